package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFileAndEnv(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "idv.yaml")
	yaml := "database_url: postgres://u@db:5432/idv\njobs:\n  stale_after: 120s\n  workers:\n    resolution_proofing: 4\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{"IDV_JOBS_WORKERS_RESOLUTION_PROOFING=7", "IDV_REDIS_ADDR=r:6379", "IDV_WEB_SECURE_COOKIES=false", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://u@db:5432/idv" || cfg.Jobs.StaleAfter != 120*time.Second ||
		cfg.Jobs.Workers.ResolutionProofing != 7 || cfg.Redis.Addr != "r:6379" || cfg.Web.SecureCookies {
		t.Fatalf("got %+v", cfg)
	}
	if cfg.Jobs.Workers.AddressProofing != Defaults().Jobs.Workers.AddressProofing {
		t.Fatalf("defaults lost: %+v", cfg.Jobs.Workers)
	}
}

func TestLoadErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct{ env, want string }{
		{"IDV_JOBS_STALE_AFTER=soon", "IDV_JOBS_STALE_AFTER"},
		{"IDV_JOBS_ASYNC=maybe", "IDV_JOBS_ASYNC"},
		{"IDV_REDIS_DB=one", "IDV_REDIS_DB"},
	}
	for _, tc := range tests {
		if _, err := Load("", []string{tc.env}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.env, err)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(path, []byte("jobs:\n  stale_afterr: 1s\n"), 0o600)
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "stale_afterr") {
		t.Errorf("unknown field: err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	err := cfg.Validate(RoleWorker)
	for _, want := range []string{"database_url", "vendors.resolution.url", "objects.bucket"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("worker without %s: %v", want, err)
		}
	}
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1/test"
	cfg.Vendors.BaseURL = "http://127.0.0.1:8081"
	cfg.Keys.FingerprintKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	cfg.Objects.Bucket = "idv-documents"
	if err := cfg.Validate(RoleWorker | RoleWeb | RoleMigrate); err != nil {
		t.Fatal(err)
	}
	cfg.Jobs.Workers.Default = 0
	cfg.Log.Level = "loud"
	err = cfg.Validate(RoleWorker)
	if err == nil || !strings.Contains(err.Error(), "jobs.workers.default") || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("err = %v", err)
	}
	if err := Defaults().Validate(RoleDev); err != nil {
		t.Fatalf("dev defaults: %v", err)
	}
	doc := Defaults()
	doc.Objects.AccessKeyID = "AKIDEXAMPLE"
	doc.DocAuth.UploadURLExpiry = 8 * 24 * time.Hour
	err = doc.Validate(RoleDev)
	for _, want := range []string{"objects.access_key_id", "doc_auth.upload_url_expiry"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
}

// The settings of issue 16 name themselves when out of range.
func TestValidateScaleSettings(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*Config){
		"retention.outcomes":              func(c *Config) { c.Retention.Outcomes = -time.Hour },
		"retention.webhook_events":        func(c *Config) { c.Retention.WebhookEvents = 24 * time.Hour },
		"retention.every":                 func(c *Config) { c.Retention.Every = 0 },
		"vendors.breaker.failures":        func(c *Config) { c.Vendors.Breaker.Failures = -1 },
		"vendors.breaker.cooldown":        func(c *Config) { c.Vendors.Breaker.Cooldown = 0 },
		"vendors.document.max_concurrent": func(c *Config) { c.Vendors.Document.MaxConcurrent = -2 },
		"vendors.max_idle_conns_per_host": func(c *Config) { c.Vendors.MaxIdleConnsPerHost = -1 },
		"jobs.workers.document_proofing":  func(c *Config) { c.Jobs.Workers.DocumentProofing = 20000 },
	} {
		cfg := Defaults()
		set(&cfg)
		if err := cfg.Validate(RoleDev); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Off is allowed: no breaker, rows kept forever.
	cfg := Defaults()
	cfg.Vendors.Breaker = Breaker{}
	cfg.Retention = Retention{Every: time.Hour}
	if err := cfg.Validate(RoleDev); err != nil {
		t.Errorf("breaker off, retention off: %v", err)
	}
}

func TestEverySettingHasAnEnvVar(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	seen := map[string]bool{}
	for _, s := range Settings(&cfg) {
		if !strings.HasPrefix(s.Env, "IDV_") || seen[s.Env] {
			t.Errorf("bad or duplicate env %q", s.Env)
		}
		seen[s.Env] = true
	}
	if len(seen) < 30 {
		t.Fatalf("only %d settings", len(seen))
	}
}

func TestConfigurationDocIsComplete(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	for _, s := range Settings(&cfg) {
		if !strings.Contains(string(doc), "`"+s.Path+"`") || !strings.Contains(string(doc), "`"+s.Env+"`") {
			t.Errorf("docs/configuration.md does not describe %s (%s)", s.Path, s.Env)
		}
	}
}

func TestHeartbeatTimeoutValidation(t *testing.T) {
	t.Parallel()
	for d, ok := range map[time.Duration]bool{0: true, time.Second: true, 10 * time.Second: true, 500 * time.Millisecond: false} {
		c := Defaults()
		c.Jobs.HeartbeatTimeout = d
		if named := strings.Contains(fmt.Sprint(c.Validate(RoleWorker)), "jobs.heartbeat_timeout"); named == ok {
			t.Errorf("jobs.heartbeat_timeout %s: named in the errors: %v, want %v", d, named, !ok)
		}
	}
}

// Issue 13: upload URLs lived as long as the session (12 h). They are
// short now: 5 minutes by default, and a setting outside 10 s to 1 h is
// refused, naming it.
func TestUploadURLExpiryIsShort(t *testing.T) {
	t.Parallel()
	if got := Defaults().DocAuth.UploadURLExpiry; got != 5*time.Minute {
		t.Fatalf("default expiry %s, want 5m", got)
	}
	for _, tc := range []struct {
		d  time.Duration
		ok bool
	}{{0, false}, {-time.Minute, false}, {9 * time.Second, false}, {10 * time.Second, true}, {5 * time.Minute, true},
		{time.Hour, true}, {time.Hour + time.Second, false}, {12 * time.Hour, false}, {8 * 24 * time.Hour, false}} {
		c := Defaults()
		c.DocAuth.UploadURLExpiry = tc.d
		for _, role := range []Role{RoleDev, RoleWeb} {
			if role == RoleWeb {
				c.Objects.Bucket = "b"
			}
			named := strings.Contains(fmt.Sprint(c.Validate(role)), "doc_auth.upload_url_expiry")
			if named == tc.ok {
				t.Errorf("upload_url_expiry %s (role %v): named in the errors %v, want %v", tc.d, role, named, !tc.ok)
			}
		}
	}
}

// A vendor timeout at or beyond the result window would let every slow
// check end on the "missing" page: it is refused, naming the setting and
// the window.
func TestVendorTimeoutUnderResultWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		set     func(*Config, time.Duration)
		timeout time.Duration
		ok      bool
	}{
		{"vendors.document", func(c *Config, d time.Duration) { c.Vendors.Document.Timeout = d }, 45 * time.Second, true},
		{"vendors.document", func(c *Config, d time.Duration) { c.Vendors.Document.Timeout = d }, 59*time.Second + 999*time.Millisecond, true},
		{"vendors.document", func(c *Config, d time.Duration) { c.Vendors.Document.Timeout = d }, 60 * time.Second, false},
		{"vendors.document", func(c *Config, d time.Duration) { c.Vendors.Document.Timeout = d }, 90 * time.Second, false},
		{"vendors.resolution", func(c *Config, d time.Duration) { c.Vendors.Resolution.Timeout = d }, 2 * time.Minute, false},
		{"vendors.state_id", func(c *Config, d time.Duration) { c.Vendors.StateID.Timeout = d }, time.Hour, false},
		{"vendors.phone", func(c *Config, d time.Duration) { c.Vendors.Phone.Timeout = d }, 61 * time.Second, false},
		{"vendors.phone_secondary", func(c *Config, d time.Duration) { c.Vendors.PhoneSecondary.Timeout = d }, 60 * time.Second, false},
	} {
		for _, role := range []Role{RoleWorker, RoleDev} {
			c := Defaults()
			tc.set(&c, tc.timeout)
			err := fmt.Sprint(c.Validate(role))
			named := strings.Contains(err, tc.name+".timeout: must be under the 1m0s result window")
			if named == tc.ok {
				t.Errorf("%s.timeout %s (role %d): refused %v, want %v: %s", tc.name, tc.timeout, role, named, !tc.ok, err)
			}
		}
	}
}

func TestRedisModes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "idv.yaml")
	if err := os.WriteFile(path, []byte("redis:\n  addrs: [s1:26379, s2:26379]\n  master_name: idv\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		mode    string
		dial    []string
		invalid string // a setting the web role's validation names; empty: valid
	}{
		{name: "default single node", cfg: Defaults(), mode: RedisSingle, dial: []string{"127.0.0.1:6379"}},
		{name: "sentinel from YAML", cfg: fromFile, mode: RedisSentinel, dial: []string{"s1:26379", "s2:26379"}},
		{name: "sentinel from the environment", cfg: load(t, "IDV_REDIS_MASTER_NAME=idv", "IDV_REDIS_ADDRS= s1:26379, ,s2:26379,s3:26379"),
			mode: RedisSentinel, dial: []string{"s1:26379", "s2:26379", "s3:26379"}},
		{name: "cluster", cfg: load(t, "IDV_REDIS_ADDRS=c1:6379,c2:6379,c3:6379"), mode: RedisCluster, dial: []string{"c1:6379", "c2:6379", "c3:6379"}},
		{name: "cluster endpoint", cfg: load(t, "IDV_REDIS_ADDRS=cfg:6379", "IDV_REDIS_CLUSTER=true"), mode: RedisCluster, dial: []string{"cfg:6379"}},
		{name: "one address in addrs is a single node", cfg: load(t, "IDV_REDIS_ADDRS=one:6379"), mode: RedisSingle, dial: []string{"one:6379"}},
		{name: "sentinel without addresses", cfg: load(t, "IDV_REDIS_MASTER_NAME=idv"), mode: RedisSentinel, dial: []string{"127.0.0.1:6379"}, invalid: "redis.addrs"},
		{name: "cluster with a database", cfg: load(t, "IDV_REDIS_ADDRS=c1:6379,c2:6379", "IDV_REDIS_DB=2"), mode: RedisCluster, dial: []string{"c1:6379", "c2:6379"}, invalid: "redis.db"},
		{name: "a bad address", cfg: load(t, "IDV_REDIS_ADDRS=c1:6379,nope"), mode: RedisCluster, dial: []string{"c1:6379", "nope"}, invalid: "redis.addrs"},
		{name: "sentinel and cluster", cfg: load(t, "IDV_REDIS_MASTER_NAME=idv", "IDV_REDIS_ADDRS=s1:26379", "IDV_REDIS_CLUSTER=true"), mode: RedisSentinel, dial: []string{"s1:26379"}, invalid: "redis.cluster"},
		{name: "sentinel password without sentinel", cfg: load(t, "IDV_REDIS_SENTINEL_PASSWORD=x"), mode: RedisSingle, dial: []string{"127.0.0.1:6379"}, invalid: "redis.sentinel_password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Redis.Mode(); got != tc.mode {
				t.Errorf("mode %q, want %q", got, tc.mode)
			}
			if got := tc.cfg.Redis.Endpoints(); fmt.Sprint(got) != fmt.Sprint(tc.dial) {
				t.Errorf("endpoints %q, want %q", got, tc.dial)
			}
			err := tc.cfg.Validate(RoleWeb)
			names := func(s string) bool { return err != nil && strings.Contains(err.Error(), s+":") }
			if tc.invalid != "" && !names(tc.invalid) {
				t.Errorf("want an error naming %s, got %v", tc.invalid, err)
			}
			for _, s := range []string{"redis.addr", "redis.addrs", "redis.db", "redis.cluster", "redis.sentinel_password"} {
				if s != tc.invalid && names(s) {
					t.Errorf("unexpected error naming %s: %v", s, err)
				}
			}
		})
	}
}

// load is Load with environment overrides only.
func load(t *testing.T, env ...string) Config {
	t.Helper()
	cfg, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
