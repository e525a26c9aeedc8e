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

func TestUploadURLExpiryFollowsTheSession(t *testing.T) {
	t.Parallel()
	c := Defaults()
	if got := c.DocAuth.EffectiveUploadURLExpiry(c.Web); got != c.Web.SessionLifetime || got != 12*time.Hour {
		t.Fatalf("default expiry %s, want the session lifetime %s", got, c.Web.SessionLifetime)
	}
	c.Web.SessionLifetime = 8 * 24 * time.Hour
	if err := c.Validate(RoleDev); err == nil || !strings.Contains(err.Error(), "doc_auth.upload_url_expiry") {
		t.Fatalf("an 8-day session gives 8-day URLs, over S3's limit: %v", err)
	}
	c.DocAuth.UploadURLExpiry = time.Hour
	if got := c.DocAuth.EffectiveUploadURLExpiry(c.Web); got != time.Hour {
		t.Fatalf("set expiry %s, want 1h", got)
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
