package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/api"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/queue"
	redislimit "github.com/idv-dev/idv/ratelimit/redis"
	"github.com/idv-dev/idv/seal"
	"github.com/jackc/pgx/v5/pgxpool"
)

// env is one API on its own PostgreSQL schema, Redis prefix and image
// folder, with a clock the test moves and every log line kept.
type env struct {
	t       *testing.T
	q       *queue.Queue
	db      *pgxpool.Pool // search_path = the test's schema
	srv     *httptest.Server
	clock   *testenv.Clock
	objects *local.Store
	logs    *logBuffer
	sealer  *seal.Envelope
	spec    *openapi3.T
	router  routers.Router
}

func newEnv(t *testing.T, opts ...func(*api.Options)) *env {
	t.Helper()
	schema, url := testenv.Schema(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	q, err := queue.OpenPostgres(ctx(t), url, queue.Config{Schema: schema, Logger: logger})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(q.Close)
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": bytes.Repeat([]byte{7}, seal.MasterKeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objects, err := local.New(local.Config{Dir: t.TempDir(), Secret: bytes.Repeat([]byte{1}, local.MinSecretLen)})
	if err != nil {
		t.Fatal(err)
	}
	client, prefix := testenv.Redis(t)
	e := &env{t: t, q: q, db: testenv.Pool(t, url), clock: testenv.NewClock(), objects: objects, logs: logs, sealer: sealer}
	o := api.Options{
		Verifications: q, RelyingParties: q, Sealer: sealer, Objects: objects, Receipts: fakeReceipts{},
		Limiter: redislimit.New(client, prefix), PublicURL: "https://idv.example/", Now: e.clock.Now, Logger: logger,
	}
	for _, f := range opts {
		f(&o)
	}
	h, err := api.New(o)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)

	loader := openapi3.NewLoader()
	if e.spec, err = loader.LoadFromData(api.Spec); err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	e.spec.Servers = nil // match any host: the test server's
	if e.router, err = legacy.NewRouter(e.spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return e
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// fakeReceipts stands in for the ES256 signer: a JWS-shaped string naming
// the verification and its status.
type fakeReceipts struct{}

func (fakeReceipts) Receipt(_ context.Context, v idv.Verification) (string, error) {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(v.ID+"|"+string(v.Status))) + ".c2ln", nil
}

// rp creates a relying party and returns it with its API key.
func (e *env) rp(returnURLs ...string) (idv.RelyingParty, string) {
	e.t.Helper()
	if len(returnURLs) == 0 {
		returnURLs = []string{"https://rp.example/done", "https://rp.example/other"}
	}
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	rp := idv.RelyingParty{ID: "rp_" + idv.NewID(), Name: "Test Service", APIKeyHash: hash, APIKeyHint: key[:10],
		ReturnURLs: returnURLs, CreatedAt: e.clock.Now()}
	if err := e.q.CreateRelyingParty(ctx(e.t), rp); err != nil {
		e.t.Fatalf("CreateRelyingParty: %v", err)
	}
	return rp, key
}

// response is an answer of the API, already checked against openapi.yaml.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// problem checks that r is a problem with the status and code.
func (r response) problem(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	m := r.json(t)
	if r.status != status || m["code"] != code || r.header.Get("Content-Type") != "application/problem+json" ||
		m["status"] != float64(status) || m["type"] != "urn:idv:problem:"+code {
		t.Fatalf("answer %d %s, want a %d %s problem", r.status, r.body, status, code)
	}
	return m
}

// do sends a request with key as its bearer token (none when "") and
// validates the answer against openapi.yaml. headers are name, value pairs.
func (e *env) do(method, path, key, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(e.t), method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: got}
	e.validate(req, r)
	return r
}

// validate checks an answer against openapi.yaml: its status is declared
// for the operation and its body fits the schema. An answer to a route the
// document does not have must still be a Problem.
func (e *env) validate(req *http.Request, r response) {
	e.t.Helper()
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		problem := e.spec.Components.Schemas["Problem"].Value
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			e.t.Fatalf("%s %s (no route in the spec): answer is not JSON: %s", req.Method, req.URL.Path, r.body)
		}
		if err := problem.VisitJSON(v); err != nil || r.header.Get("Content-Type") != "application/problem+json" {
			e.t.Fatalf("%s %s (no route in the spec): answer is not a problem: %v", req.Method, req.URL.Path, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()}},
	}
	if err := openapi3filter.ValidateResponse(ctx(e.t), in); err != nil {
		e.t.Fatalf("%s %s: answer %d does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, r.status, err, r.body)
	}
}

// create makes a verification and returns its answer.
func (e *env) create(key, body string, headers ...string) (response, map[string]any) {
	e.t.Helper()
	r := e.do("POST", "/v1/verifications", key, body, headers...)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r, r.json(e.t)
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(ctx(e.t), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// tokenOf is the link token in a create or link answer's url.
func tokenOf(t *testing.T, m map[string]any) string {
	t.Helper()
	u, _ := m["url"].(string)
	token, ok := strings.CutPrefix(u, "https://idv.example/start/")
	if !ok || !strings.HasPrefix(token, idv.LinkTokenPrefix) {
		t.Fatalf("url %q is not a link of https://idv.example", u)
	}
	return token
}

// logBuffer keeps every log line, for the checks of what is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// requestLines are the API's per-request log lines.
func (b *logBuffer) requestLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "api request" {
			out = append(out, m)
		}
	}
	return out
}
