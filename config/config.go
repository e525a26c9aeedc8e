// Package config is idv's one typed configuration: loaded once from a YAML
// file, overridden by IDV_-prefixed environment variables, and validated at
// start-up with errors that name the setting and the fix.
//
// Every leaf setting has an environment variable named after its YAML path:
// jobs.stale_after is IDV_JOBS_STALE_AFTER, redis.addr is IDV_REDIS_ADDR.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idv-dev/idv"
)

// Config is every setting of every role. Zero values are filled by Defaults.
type Config struct {
	// Web is the web role (pages, polling, enqueue).
	Web Web `yaml:"web"`
	// Worker is the worker role (claims and runs jobs).
	Worker Worker `yaml:"worker"`
	// DatabaseURL is the PostgreSQL database holding the jobs table and
	// capture sessions (postgres://user@host:5432/db). Empty in `idv dev`,
	// which keeps jobs in a SQLite file instead.
	DatabaseURL string `yaml:"database_url"`
	// DatabaseSchema is the PostgreSQL schema for idv's and River's tables
	// (empty: the connection's search_path, normally public).
	DatabaseSchema string `yaml:"database_schema"`
	// Redis holds results, sessions and rate-limit counters.
	Redis Redis `yaml:"redis"`
	// Keys is the key material that seals job arguments, results and sessions.
	Keys Keys `yaml:"keys"`
	// Jobs is how proofing jobs are queued and run.
	Jobs Jobs `yaml:"jobs"`
	// Vendors is where and how vendor checks are made.
	Vendors Vendors `yaml:"vendors"`
	// DocAuth is the document capture step.
	DocAuth DocAuth `yaml:"doc_auth"`
	// Objects is the object storage that holds document images.
	Objects Objects `yaml:"objects"`
	// Log is where log lines go.
	Log Log `yaml:"log"`
	// Verifications is the relying parties' side: links, lifetimes,
	// receipts and webhooks.
	Verifications Verifications `yaml:"verifications"`
	// Retention is how long outcome rows, verifications and webhook
	// events are kept.
	Retention Retention `yaml:"retention"`
}

// Verifications configures what relying parties see.
type Verifications struct {
	// PublicURL is the origin people and relying parties reach idv at
	// (https://idv.example.gov): the base of the person's links and the
	// receipts' issuer. Empty: http://web.addr (development only).
	PublicURL string `yaml:"public_url"`
	// Lifetime is how long a verification may stay unfinished before it
	// expires.
	Lifetime time.Duration `yaml:"lifetime"`
	// LinkLifetime is how long a person's single-use link works.
	LinkLifetime time.Duration `yaml:"link_lifetime"`
	// WebhookWorkers is how many webhook deliveries one worker process
	// makes at once.
	WebhookWorkers int `yaml:"webhook_workers"`
	// WebhooksAllowInsecure lets webhooks go to http URLs and non-public
	// addresses: tests and `idv dev` only, never production.
	WebhooksAllowInsecure bool `yaml:"webhooks_allow_insecure"`
	// APIRequestsPerMinute bounds each relying party's requests to the
	// API per minute (a fixed window); over it, the API answers 429.
	APIRequestsPerMinute int `yaml:"api_requests_per_minute"`
	// OIDCTrustFramework is the trust_framework the OpenID Provider states
	// in verified_claims (DESIGN.md section 11); empty: nist_800_63A.
	OIDCTrustFramework string `yaml:"oidc_trust_framework"`
}

// EffectivePublicURL is PublicURL, or http://web.addr when it is empty.
func (c Config) EffectivePublicURL() string {
	if c.Verifications.PublicURL != "" {
		return strings.TrimRight(c.Verifications.PublicURL, "/")
	}
	return "http://" + c.Web.Addr
}

// Web configures `idv web`.
type Web struct {
	// Addr is the HOST:PORT the web server listens on.
	Addr string `yaml:"addr"`
	// SecureCookies marks the session cookie Secure (HTTPS only). Turn it
	// off only for plain-HTTP development on loopback.
	SecureCookies bool `yaml:"secure_cookies"`
	// SessionLifetime is the longest a person's session lasts.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// SessionIdleTimeout ends a session after this long without requests.
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// WaitRefresh is the meta-refresh interval of the waiting page for
	// browsers without JavaScript.
	WaitRefresh time.Duration `yaml:"wait_refresh"`
	// LongPoll is how long one status request from the waiting page's
	// script waits for the result before answering "still in progress".
	LongPoll time.Duration `yaml:"long_poll"`
	// MaxLongPolls caps the waiting page's status long polls held open at
	// once in this process; past it (or past a few per session) a poll
	// answers at once and the page falls back to refreshing.
	MaxLongPolls int `yaml:"max_long_polls"`
	// OpsAddr is the HOST:PORT of the operations listener: /metrics and the
	// health endpoints, kept off the public port. Keep it on loopback or a
	// private network.
	OpsAddr string `yaml:"ops_addr"`
	// AdminUser and AdminPasswordSHA256 turn on the jobs admin UI at
	// /admin/jobs behind HTTP Basic authentication; empty, it is off. Only
	// the password's SHA-256 (hex) is configured: make the password random
	// (openssl rand -base64 24), then printf %s "$PASSWORD" | sha256sum.
	// Prefer IDV_WEB_ADMIN_PASSWORD_SHA256 to the file.
	AdminUser           string `yaml:"admin_user"`
	AdminPasswordSHA256 string `yaml:"admin_password_sha256"`
	// HelpURL is where a person gets help when a step cannot go on (the
	// final failure and "tried too many times" pages): the deployment's
	// help or contact page. Empty: the pages send the person back to the
	// relying party only.
	HelpURL string `yaml:"help_url"`
	// HelpText is said above the help link, e.g. the help team's hours
	// or phone number.
	HelpText string `yaml:"help_text"`
}

// Worker configures `idv worker`.
type Worker struct {
	// Addr is the HOST:PORT of the worker's health and metrics server.
	Addr string `yaml:"addr"`
}

// Redis configures the Redis connection: one node (addr), a primary
// watched by Sentinel (master_name and the Sentinels in addrs), or a Redis
// Cluster (two or more addrs, or cluster with one). Mode says which.
type Redis struct {
	// Addr is the HOST:PORT of a single Redis node. Ignored when Addrs
	// is set.
	Addr string `yaml:"addr"`
	// Addrs are the Sentinels' HOST:PORTs when MasterName is set, else
	// the seed nodes of a Redis Cluster. In the environment, comma
	// separated.
	Addrs []string `yaml:"addrs"`
	// MasterName is the name the Sentinels monitor the primary under
	// (sentinel monitor NAME ...). Set, idv asks the Sentinels in Addrs
	// for the primary and follows its failovers.
	MasterName string `yaml:"master_name"`
	// SentinelPassword authenticates to the Sentinels when they require
	// one (prefer IDV_REDIS_SENTINEL_PASSWORD).
	SentinelPassword string `yaml:"sentinel_password"`
	// Cluster selects Redis Cluster with a single address in Addrs (or
	// Addr): a managed service's configuration endpoint.
	Cluster bool `yaml:"cluster"`
	// Password authenticates to Redis (prefer IDV_REDIS_PASSWORD).
	Password string `yaml:"password"`
	// DB is the Redis database number (0 under Redis Cluster).
	DB int `yaml:"db"`
	// Prefix starts every key idv writes, so one Redis can serve several
	// deployments.
	Prefix string `yaml:"prefix"`
}

// Redis connection modes, as Mode returns them.
const (
	RedisSingle   = "single"
	RedisSentinel = "sentinel"
	RedisCluster  = "cluster"
)

// Mode says how idv reaches Redis: RedisSentinel when MasterName is set,
// RedisCluster with two or more Addrs or Cluster set, else RedisSingle.
func (r Redis) Mode() string {
	switch {
	case r.MasterName != "":
		return RedisSentinel
	case len(r.Addrs) > 1 || r.Cluster:
		return RedisCluster
	}
	return RedisSingle
}

// Endpoints are the addresses idv dials first: Addrs when set, else Addr.
func (r Redis) Endpoints() []string {
	if len(r.Addrs) > 0 {
		return r.Addrs
	}
	return []string{r.Addr}
}

// Keys configures sealing keys.
type Keys struct {
	// File is the local key file: created, 0600, by `idv keys init` (or by
	// `idv dev` on its first run); web, worker and the operator commands
	// refuse to start without it. Its newest key seals; every key in it
	// opens.
	File string `yaml:"file"`
	// FingerprintKey is the base64 secret (32 bytes or more) that keys the
	// HMAC of SSNs for the SSN attempt limit (prefer IDV_KEYS_FINGERPRINT_KEY;
	// generate one with `openssl rand -base64 32`). `idv dev` makes its own.
	FingerprintKey string `yaml:"fingerprint_key"`
	// DataKeyLifetime bounds how long one data key is reused before a new
	// one is generated.
	DataKeyLifetime time.Duration `yaml:"data_key_lifetime"`
	// KMSKeyID, when set, wraps data keys with AWS KMS instead of the key
	// file: a key ARN, key id, alias name (alias/idv) or alias ARN. New
	// values name the key ARN KMS reports; values sealed under an earlier
	// key keep opening while that key is enabled. Credentials come from
	// the AWS SDK's default chain (instance or task role, AWS_* variables).
	KMSKeyID string `yaml:"kms_key_id"`
	// KMSRegion is the KMS key's region. Empty: the region in kms_key_id
	// when it is an ARN, else AWS_REGION or the shared AWS config.
	KMSRegion string `yaml:"kms_region"`
	// KMSEndpoint overrides the KMS endpoint (a VPC endpoint, or a test
	// server); empty is the region's public endpoint.
	KMSEndpoint string `yaml:"kms_endpoint"`
}

// reKMSKeyRef matches what KMS accepts as a key id: a key id, an alias
// name, or the ARN of either (seal/kms checks the same).
var reKMSKeyRef = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$|^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?alias/[A-Za-z0-9/_-]{1,250}$`)

// emptySHA256 is the SHA-256 of the empty string, refused as an admin
// password.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// reAWSRegion matches an AWS region name such as us-east-1.
var reAWSRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// Jobs configures the job queue and workers.
type Jobs struct {
	// Async runs vendor checks in workers. false runs each job inline in
	// the web request with the same result-store contract.
	Async bool `yaml:"async"`
	// StaleAfter discards a job enqueued longer ago than this without
	// calling vendors.
	StaleAfter time.Duration `yaml:"stale_after"`
	// FetchPollInterval is the fallback poll of the jobs table when no
	// notification arrives (PostgreSQL uses LISTEN/NOTIFY).
	FetchPollInterval time.Duration `yaml:"fetch_poll_interval"`
	// RescueAfter is how long a job may stay running before it is
	// considered lost with a dead worker and made available again.
	RescueAfter time.Duration `yaml:"rescue_after"`
	// HeartbeatTimeout is how long a worker may go without a heartbeat
	// before the jobs it runs are taken as lost and run again by another
	// worker, well before RescueAfter. 0 turns this fast rescue off.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// Retention is how long finished job rows are kept before cleanup.
	Retention time.Duration `yaml:"retention"`
	// Workers is the number of jobs each queue runs at once per process.
	Workers Workers `yaml:"workers"`
	// PollOnly turns LISTEN/NOTIFY off: workers find new jobs by polling
	// every fetch_poll_interval. Needed when database_url points at a
	// pooler in transaction mode (PgBouncer), which cannot hold a LISTEN.
	PollOnly bool `yaml:"poll_only"`
}

// Retention is how long idv keeps the rows that grow with every proofing;
// 0 keeps them forever. Workers delete older rows every Every.
type Retention struct {
	// Outcomes: the PII-free record of every finished attempt
	// (idv_outcomes), by when it finished.
	Outcomes time.Duration `yaml:"outcomes"`
	// Verifications: finished verifications with their steps and links,
	// by when they finished. Open ones are never deleted.
	Verifications time.Duration `yaml:"verifications"`
	// WebhookEvents: webhook events and delivery attempts, by when the
	// event happened; at least 96h (the retry horizon).
	WebhookEvents time.Duration `yaml:"webhook_events"`
	// Every is how often the retention job runs.
	Every time.Duration `yaml:"every"`
}

// Workers is the concurrency of each queue in one worker process.
type Workers struct {
	DocumentProofing   int `yaml:"document_proofing"`
	ResolutionProofing int `yaml:"resolution_proofing"`
	AddressProofing    int `yaml:"address_proofing"`
	Default            int `yaml:"default"`
}

// Vendors configures the vendor clients.
type Vendors struct {
	// ProxyURL is the egress proxy every vendor request goes through
	// (http://host:port). Empty: direct connections.
	ProxyURL string `yaml:"proxy_url"`
	// BaseURL is used for every vendor whose own url is empty (one server
	// hosting every vendor API, such as `idv vendors`).
	BaseURL string `yaml:"base_url"`
	// Resolution is the identity-resolution vendor.
	Resolution Vendor `yaml:"resolution"`
	// StateID is the state-ID (AAMVA-style) vendor.
	StateID Vendor `yaml:"state_id"`
	// Phone is the phone-ownership vendor.
	Phone Vendor `yaml:"phone"`
	// PhoneSecondary is asked when the phone vendor does not verify the
	// phone (failure or exception); empty url: no secondary vendor.
	PhoneSecondary Vendor `yaml:"phone_secondary"`
	// Document is the document-authentication vendor.
	Document Vendor `yaml:"document"`
	// SimulatorLatency is the added latency of the built-in simulators
	// (`idv dev`, `idv vendors`), for load tests.
	SimulatorLatency time.Duration `yaml:"simulator_latency"`
	// Breaker is the per-vendor circuit breaker, shared by every worker
	// through Redis.
	Breaker Breaker `yaml:"breaker"`
	// MaxIdleConnsPerHost bounds each vendor's kept-alive connections
	// (CONNECT tunnels through the proxy) in one process.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
}

// Breaker configures the vendors' circuit breaker.
type Breaker struct {
	// Failures is how many faults in a row (vendors.Fault), across the
	// fleet, open a vendor's breaker; 0 turns it off.
	Failures int `yaml:"failures"`
	// Cooldown is how long an open breaker answers exception at once
	// before one probe call is let through.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Vendor is one vendor endpoint.
type Vendor struct {
	// URL is the vendor's base URL.
	URL string `yaml:"url"`
	// Timeout bounds one request to the vendor.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent bounds this vendor's calls in flight across every
	// worker (its contract's concurrency); past it a call answers
	// exception at once. 0: no limit.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// DocAuth configures the document capture step.
type DocAuth struct {
	// Enabled starts the flow with photos of the person's ID; off, it
	// starts at "verify your information".
	Enabled bool `yaml:"enabled"`
	// PresignedUploads has the browser encrypt each image and PUT it
	// straight to object storage through a pre-signed URL. false posts the
	// images to the web server, which seals them and stores them itself
	// (the seeds' doc_auth_enable_presigned_s3_urls).
	PresignedUploads bool `yaml:"presigned_uploads"`
	// UploadURLExpiry is how long a pre-signed upload URL stays valid
	// (default 5 minutes; from 10 s to 1 h). The capture page asks for a
	// URL just before each upload, and for a fresh one when the one it
	// holds is near expiry, so a slow person never meets an expired URL.
	UploadURLExpiry time.Duration `yaml:"upload_url_expiry"`
	// AllowTestFiles lets a small YAML or JSON file stand in for an image so
	// QA can pick the document simulator's answer. Never in production.
	AllowTestFiles bool `yaml:"allow_test_files"`
	// ImageEncryption is how the browser encrypts pre-signed uploads:
	// "hpke" (the default) to the workers' public key, so the web tier never
	// holds a key that opens an image; "form_key" as the seeds do, under a
	// key the page makes and posts with the form (docs/encryption.md).
	ImageEncryption string `yaml:"image_encryption"`
}

// Image encryption modes (doc_auth.image_encryption).
const (
	ImageEncryptionHPKE    = "hpke"
	ImageEncryptionFormKey = "form_key"
)

// HPKE reports whether pre-signed uploads are encrypted to the workers'
// HPKE key.
func (d DocAuth) HPKE() bool {
	return d.Enabled && d.PresignedUploads && d.ImageEncryption == ImageEncryptionHPKE
}

// ImageKeyGrace is how long a retired image key still opens images: the
// longest a capture page can go on sealing with the key it was rendered
// with (the session's lifetime: upload URLs are short-lived, but the page
// asks for fresh ones and keeps its key) plus the longest a job may wait
// (jobs.stale_after).
func (c Config) ImageKeyGrace() time.Duration {
	return max(c.DocAuth.UploadURLExpiry, c.Web.SessionLifetime) + c.Jobs.StaleAfter
}

// Bounds of doc_auth.upload_url_expiry: long enough for the page to start
// its PUT after asking, short enough that a URL is dead minutes after the
// attempt ends.
const (
	MinUploadURLExpiry = 10 * time.Second
	MaxUploadURLExpiry = time.Hour
)

// Objects configures the object storage of document images: an S3 bucket,
// or in `idv dev` a local folder the web server serves uploads to.
type Objects struct {
	// Bucket is the S3 bucket (required by web and worker when doc_auth is
	// enabled).
	Bucket string `yaml:"bucket"`
	// Region is the bucket's AWS region.
	Region string `yaml:"region"`
	// Endpoint is an S3-compatible endpoint such as http://127.0.0.1:7070;
	// empty means AWS S3.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses the bucket in the URL path instead of the host
	// name (most S3-compatible servers need it).
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID and SecretAccessKey authenticate to S3 (prefer
	// IDV_OBJECTS_SECRET_ACCESS_KEY); empty uses the default AWS credential
	// chain, such as an instance role.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// CORSOrigin is the origin people's browsers load idv's pages from
	// (https://idv.example.gov). `idv storage` sets the bucket's CORS rule
	// so only pages from it may upload.
	CORSOrigin string `yaml:"cors_origin"`
	// Dir is the local folder store of `idv dev`.
	Dir string `yaml:"dir"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// File is where JSON log lines go; empty or "-" means stdout.
	File string `yaml:"file"`
}

// Defaults returns the configuration used where nothing is set.
func Defaults() Config {
	return Config{
		Web: Web{
			Addr:               "127.0.0.1:8080",
			SecureCookies:      true,
			SessionLifetime:    12 * time.Hour,
			SessionIdleTimeout: 30 * time.Minute,
			WaitRefresh:        3 * time.Second,
			LongPoll:           20 * time.Second,
			MaxLongPolls:       5000,
			OpsAddr:            "127.0.0.1:9091",
		},
		Worker: Worker{Addr: "127.0.0.1:9090"},
		Redis:  Redis{Addr: "127.0.0.1:6379", Prefix: "idv:"},
		Keys:   Keys{File: "keys.json", DataKeyLifetime: 5 * time.Minute},
		Jobs: Jobs{
			Async:             true,
			StaleAfter:        300 * time.Second,
			FetchPollInterval: time.Second,
			RescueAfter:       75 * time.Second,
			HeartbeatTimeout:  10 * time.Second,
			Retention:         time.Hour,
			Workers:           Workers{DocumentProofing: 135, ResolutionProofing: 35, AddressProofing: 15, Default: 2},
		},
		Vendors: Vendors{
			Resolution:     Vendor{Timeout: time.Second},
			StateID:        Vendor{Timeout: 5 * time.Second},
			Phone:          Vendor{Timeout: time.Second},
			PhoneSecondary: Vendor{Timeout: time.Second},
			Document:       Vendor{Timeout: 45 * time.Second},
			Breaker:        Breaker{Failures: 5, Cooldown: 30 * time.Second},
		},
		Retention: Retention{Outcomes: 400 * 24 * time.Hour, Verifications: 90 * 24 * time.Hour,
			WebhookEvents: 30 * 24 * time.Hour, Every: time.Hour},
		DocAuth:       DocAuth{Enabled: true, PresignedUploads: true, UploadURLExpiry: 5 * time.Minute, ImageEncryption: ImageEncryptionHPKE},
		Objects:       Objects{Region: "us-east-1"},
		Log:           Log{Level: "info"},
		Verifications: Verifications{Lifetime: 24 * time.Hour, LinkLifetime: time.Hour, WebhookWorkers: 10, APIRequestsPerMinute: 600},
	}
}

// Load reads the YAML file at path (if path is not empty) over the defaults,
// then applies IDV_ environment overrides from environ (os.Environ() form).
// It does not validate: call Validate for the role being started.
func Load(path string, environ []string) (Config, error) {
	cfg := Defaults()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // an empty file is all defaults
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Setting is one leaf of the configuration, for docs and env overrides.
type Setting struct {
	Path    string // YAML path, e.g. jobs.stale_after
	Env     string // environment variable, e.g. IDV_JOBS_STALE_AFTER
	Type    string // Go type
	Default string
	field   reflect.Value
}

// Settings lists every leaf setting of cfg in declaration order.
func Settings(cfg *Config) []Setting {
	var out []Setting
	walk(reflect.ValueOf(cfg).Elem(), "", &out)
	return out
}

func walk(v reflect.Value, prefix string, out *[]Setting) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			walk(fv, path, out)
			continue
		}
		*out = append(*out, Setting{
			Path:    path,
			Env:     "IDV_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_")),
			Type:    fv.Type().String(),
			Default: fmt.Sprint(fv.Interface()),
			field:   fv,
		})
	}
}

func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "IDV_") {
			env[k] = v
		}
	}
	for _, s := range Settings(cfg) {
		raw, ok := env[s.Env]
		if !ok {
			continue
		}
		if err := setValue(s.field, raw); err != nil {
			return fmt.Errorf("config: %s (%s): %w", s.Env, s.Path, err)
		}
	}
	return nil
}

func setValue(v reflect.Value, raw string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 5m, got %q", raw)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var list []string
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", raw)
		}
		v.SetInt(int64(n))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// validateRedis checks the settings of the Redis mode in use.
func (c Config) validateRedis(bad func(path, format string, args ...any), checkAddr func(path, addr string)) {
	r := c.Redis
	if len(r.Addrs) == 0 {
		checkAddr("redis.addr", r.Addr)
	}
	for _, a := range r.Addrs {
		checkAddr("redis.addrs", a)
	}
	switch r.Mode() {
	case RedisSentinel:
		if len(r.Addrs) == 0 {
			bad("redis.addrs", "is required with redis.master_name: the Sentinels' HOST:PORTs, e.g. IDV_REDIS_ADDRS=10.0.0.5:26379,10.0.1.5:26379,10.0.2.5:26379")
		}
		if r.Cluster {
			bad("redis.cluster", "cannot be set with redis.master_name: Sentinel watches one primary, Redis Cluster needs none")
		}
	case RedisCluster:
		if r.DB != 0 {
			bad("redis.db", "must be 0 under Redis Cluster, got %d", r.DB)
		}
	}
	if r.SentinelPassword != "" && r.MasterName == "" {
		bad("redis.sentinel_password", "is only used with redis.master_name")
	}
}

// Role names what a process runs, for validation.
type Role int

const (
	RoleWeb Role = 1 << iota
	RoleWorker
	RoleMigrate
	RoleVendors
	RoleDev
)

// Validate checks the settings that role needs and returns every problem,
// each naming the setting and the fix.
func (c Config) Validate(role Role) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	checkAddr := func(path, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(path, "want HOST:PORT such as 127.0.0.1:8080, got %q", addr)
		}
	}
	checkURL := func(path, raw string, required bool) {
		if raw == "" {
			if required {
				bad(path, "is required")
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			bad(path, "want an absolute URL such as http://127.0.0.1:8081, got %q", raw)
		}
	}
	positive := func(path string, d time.Duration) {
		if d <= 0 {
			bad(path, "must be a positive duration, got %s", d)
		}
	}
	if role&(RoleWeb|RoleWorker|RoleMigrate) != 0 && role&RoleDev == 0 {
		if c.DatabaseURL == "" {
			bad("database_url", "is required (IDV_DATABASE_URL), e.g. postgres://postgres@127.0.0.1:5432/idv")
		} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database_url", "want a postgres:// URL")
		}
	}
	if role&(RoleWeb|RoleWorker) != 0 && role&RoleDev == 0 {
		c.validateRedis(bad, checkAddr)
		if c.Keys.File == "" && c.Keys.KMSKeyID == "" {
			bad("keys.file", "is required unless keys.kms_key_id is set: the key file that seals job arguments and results")
		}
		if role&RoleWeb != 0 {
			if k, err := base64.StdEncoding.DecodeString(c.Keys.FingerprintKey); err != nil || len(k) < 32 {
				bad("keys.fingerprint_key", "want 32 or more random bytes, base64 (IDV_KEYS_FINGERPRINT_KEY; e.g. openssl rand -base64 32)")
			}
		}
	}
	if k := c.Keys; k.KMSKeyID != "" {
		if !reKMSKeyRef.MatchString(k.KMSKeyID) {
			bad("keys.kms_key_id", "want a KMS key ARN, key id, alias/NAME or alias ARN, got %q", k.KMSKeyID)
		}
		if k.KMSRegion != "" && !reAWSRegion.MatchString(k.KMSRegion) {
			bad("keys.kms_region", "want an AWS region such as us-east-1, got %q", k.KMSRegion)
		}
		checkURL("keys.kms_endpoint", k.KMSEndpoint, false)
	} else if k.KMSRegion != "" || k.KMSEndpoint != "" {
		bad("keys.kms_key_id", "is required when keys.kms_region or keys.kms_endpoint is set")
	}
	if role&(RoleWeb|RoleDev) != 0 {
		checkAddr("web.addr", c.Web.Addr)
		if role&RoleWeb != 0 {
			checkAddr("web.ops_addr", c.Web.OpsAddr)
		}
		positive("web.session_lifetime", c.Web.SessionLifetime)
		positive("web.session_idle_timeout", c.Web.SessionIdleTimeout)
		positive("web.wait_refresh", c.Web.WaitRefresh)
		checkURL("web.help_url", c.Web.HelpURL, false)
		positive("web.long_poll", c.Web.LongPoll)
		if c.Web.MaxLongPolls < 1 {
			bad("web.max_long_polls", "want at least 1, got %d", c.Web.MaxLongPolls)
		}
		if w := c.Web; w.AdminUser != "" || w.AdminPasswordSHA256 != "" {
			if w.AdminUser == "" || strings.ContainsAny(w.AdminUser, ":\r\n") {
				bad("web.admin_user", "want a user name without a colon, set together with web.admin_password_sha256")
			}
			if h, err := hex.DecodeString(w.AdminPasswordSHA256); err != nil || len(h) != 32 {
				bad("web.admin_password_sha256", "want the SHA-256 of the admin password as 64 hex digits (printf %%s \"$PASSWORD\" | sha256sum), set together with web.admin_user")
			} else if strings.EqualFold(w.AdminPasswordSHA256, emptySHA256) {
				bad("web.admin_password_sha256", "is the SHA-256 of an empty password")
			}
		}
	}
	if role&RoleWorker != 0 {
		checkAddr("worker.addr", c.Worker.Addr)
	}
	if role&(RoleWeb|RoleWorker|RoleDev) != 0 {
		v := c.Verifications
		checkURL("verifications.public_url", v.PublicURL, false)
		positive("verifications.lifetime", v.Lifetime)
		positive("verifications.link_lifetime", v.LinkLifetime)
		if v.LinkLifetime > v.Lifetime {
			bad("verifications.link_lifetime", "must not be longer than verifications.lifetime (%s), got %s", v.Lifetime, v.LinkLifetime)
		}
		if v.WebhookWorkers < 1 || v.WebhookWorkers > 10000 {
			bad("verifications.webhook_workers", "must be between 1 and 10000, got %d", v.WebhookWorkers)
		}
		if v.APIRequestsPerMinute < 1 || v.APIRequestsPerMinute > 10_000_000 {
			bad("verifications.api_requests_per_minute", "must be between 1 and 10000000, got %d", v.APIRequestsPerMinute)
		}
	}
	if c.DocAuth.Enabled {
		if role&(RoleWeb|RoleWorker) != 0 && role&RoleDev == 0 && c.Objects.Bucket == "" {
			bad("objects.bucket", "is required while doc_auth.enabled is true: the S3 bucket for document images (or set doc_auth.enabled: false)")
		}
		if role&(RoleWeb|RoleDev) != 0 {
			if e := c.DocAuth.UploadURLExpiry; e < MinUploadURLExpiry || e > MaxUploadURLExpiry {
				bad("doc_auth.upload_url_expiry", "must be between %s and %s (the page asks for a fresh URL before each upload), got %s",
					MinUploadURLExpiry, MaxUploadURLExpiry, e)
			}
		}
		switch c.DocAuth.ImageEncryption {
		case ImageEncryptionHPKE, ImageEncryptionFormKey:
		default:
			bad("doc_auth.image_encryption", "must be hpke or form_key, got %q", c.DocAuth.ImageEncryption)
		}
		if c.DocAuth.HPKE() && role&RoleWeb != 0 && role&RoleDev == 0 && !c.Jobs.Async {
			// Jobs inline would make the web tier open the images, the
			// very thing hpke keeps from it.
			bad("doc_auth.image_encryption", "hpke needs jobs.async: true (workers alone hold the image keys); with jobs.async false use form_key")
		}
		checkURL("objects.endpoint", c.Objects.Endpoint, false)
		checkURL("objects.cors_origin", c.Objects.CORSOrigin, false)
		if (c.Objects.AccessKeyID == "") != (c.Objects.SecretAccessKey == "") {
			bad("objects.access_key_id", "set both objects.access_key_id and objects.secret_access_key, or neither (the default AWS credential chain)")
		}
	}
	if role&(RoleWorker|RoleDev) != 0 || (role&RoleWeb != 0 && !c.Jobs.Async) {
		positive("jobs.stale_after", c.Jobs.StaleAfter)
		positive("jobs.fetch_poll_interval", c.Jobs.FetchPollInterval)
		positive("jobs.rescue_after", c.Jobs.RescueAfter)
		if d := c.Jobs.HeartbeatTimeout; d != 0 && d < time.Second {
			bad("jobs.heartbeat_timeout", "must be at least 1s (or 0: off), got %s", d)
		}
		positive("jobs.retention", c.Jobs.Retention)
		positive("retention.every", c.Retention.Every)
		for name, d := range map[string]time.Duration{"retention.outcomes": c.Retention.Outcomes,
			"retention.verifications": c.Retention.Verifications, "retention.webhook_events": c.Retention.WebhookEvents} {
			if d < 0 {
				bad(name, "must not be negative (0 keeps rows forever), got %s", d)
			}
		}
		if d := c.Retention.WebhookEvents; d > 0 && d < 96*time.Hour {
			bad("retention.webhook_events", "must be at least 96h (the webhook retry horizon) or 0, got %s", d)
		}
		if c.Vendors.MaxIdleConnsPerHost < 0 {
			bad("vendors.max_idle_conns_per_host", "must not be negative (0: the default, 256), got %d", c.Vendors.MaxIdleConnsPerHost)
		}
		if c.Vendors.Breaker.Failures < 0 {
			bad("vendors.breaker.failures", "must not be negative (0: off), got %d", c.Vendors.Breaker.Failures)
		}
		if c.Vendors.Breaker.Failures > 0 {
			positive("vendors.breaker.cooldown", c.Vendors.Breaker.Cooldown)
		}
		for name, v := range map[string]Vendor{"vendors.resolution": c.Vendors.Resolution, "vendors.state_id": c.Vendors.StateID,
			"vendors.phone": c.Vendors.Phone, "vendors.phone_secondary": c.Vendors.PhoneSecondary, "vendors.document": c.Vendors.Document} {
			if v.MaxConcurrent < 0 {
				bad(name+".max_concurrent", "must not be negative (0: no limit), got %d", v.MaxConcurrent)
			}
		}
		for name, n := range map[string]int{
			"jobs.workers.document_proofing":   c.Jobs.Workers.DocumentProofing,
			"jobs.workers.resolution_proofing": c.Jobs.Workers.ResolutionProofing,
			"jobs.workers.address_proofing":    c.Jobs.Workers.AddressProofing,
			"jobs.workers.default":             c.Jobs.Workers.Default,
		} {
			if n < 1 || n > 10000 {
				bad(name, "must be between 1 and 10000, got %d", n)
			}
		}
		checkURL("vendors.base_url", c.Vendors.BaseURL, false)
		checkURL("vendors.phone_secondary.url", c.Vendors.PhoneSecondary.URL, false)
		if role&RoleDev == 0 {
			for name, v := range map[string]Vendor{"vendors.resolution": c.Vendors.Resolution, "vendors.state_id": c.Vendors.StateID, "vendors.phone": c.Vendors.Phone} {
				if v.URL == "" && c.Vendors.BaseURL == "" {
					bad(name+".url", "is required when vendors.base_url is not set")
				}
				checkURL(name+".url", v.URL, false)
			}
		}
		checkURL("vendors.proxy_url", c.Vendors.ProxyURL, false)
		for name, v := range map[string]Vendor{
			"vendors.resolution": c.Vendors.Resolution, "vendors.state_id": c.Vendors.StateID,
			"vendors.phone": c.Vendors.Phone, "vendors.document": c.Vendors.Document,
			"vendors.phone_secondary": c.Vendors.PhoneSecondary,
		} {
			positive(name+".timeout", v.Timeout)
			// The web tier waits idv.ResultTTL for a result: a check allowed
			// to run longer ends on the "taking longer than usual" page
			// whatever the vendor answers.
			if v.Timeout >= idv.ResultTTL {
				bad(name+".timeout", "must be under the %s result window (a slower check ends as missing whatever the vendor answers), got %s", idv.ResultTTL, v.Timeout)
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
}
