package main

// End-to-end tests: the real binary, as separate processes, against the real
// PostgreSQL and Redis (production shape), and `idv dev` (embedded shape).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/idv once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "idv")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running idv process whose output is captured.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
	url chan string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`"msg":"listening","role":"(\w+)","url":"([^"]+)"`)

// start runs the binary with env and waits until it logs the URL of role.
func start(t *testing.T, env []string, role string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, url: make(chan string, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.out.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil && m[1] == role {
				select {
				case p.url <- m[2]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		pw.Close()
	})
	return p
}

func (p *proc) waitURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.url:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("process did not start listening; output:\n%s", p.out.String())
		return ""
	}
}

func run1(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("idv %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// person is one browser: a cookie jar, no redirects followed automatically.
type person struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newPerson(t *testing.T, base string) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *person) do(method, path string, form url.Values) (int, string, string) {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, p.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	loc := res.Header.Get("Location")
	return res.StatusCode, loc, string(b)
}

// verify submits the form and waits as the page's script does; it returns
// where the step sends the person once the result is read.
func (p *person) verify(form url.Values) string {
	p.t.Helper()
	return p.step("/verify/verify_info", form)
}

// step submits form to a step's path and waits for its result.
func (p *person) step(path string, form url.Values) string {
	p.t.Helper()
	if code, loc, body := p.do("POST", path, form); code != 303 || loc != path {
		p.t.Fatalf("submit: %d %q %.300s", code, loc, body)
	}
	return p.waitStep(path)
}

// waitStep waits, as the waiting page does, for a submitted step's result
// and returns where the step then sends the person ("missing" for the
// "taking longer than usual" form).
func (p *person) waitStep(path string) string {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		_, _, body := p.do("GET", path+"/status", nil)
		var st struct{ Status string }
		_ = json.Unmarshal([]byte(body), &st)
		if st.Status != "in_progress" {
			break
		}
	}
	code, loc, body := p.do("GET", path, nil)
	if code == 303 {
		return loc
	}
	if strings.Contains(body, "taking longer than usual") {
		return "missing"
	}
	p.t.Fatalf("after result: %d %.300s", code, body)
	return ""
}

// Canary PII: distinctive values that must never appear in plaintext in any
// store or log.
func canaryForm(first, ssn, zip, stateID string) url.Values {
	return url.Values{
		"first_name": {first}, "last_name": {"Quuxcanarylast"}, "dob": {"1971-03-17"}, "ssn": {ssn},
		"address1": {"4417 Zyzzyvacanary Lane"}, "city": {"Plughcanaryville"}, "state": {"VA"}, "zipcode": {zip},
		"state_id_number": {stateID}, "state_id_jurisdiction": {"VA"},
	}
}

var canaries = []string{"Quuxcanarylast", "Zyzzyvacanary", "Plughcanaryville", "Xylocanary", "Timecanary", "Failcanary", "Badcanary",
	"900-41-7723", "900417723", "1971-03-17", "CANARYID77", "mvatimeout", "7035550199"}

func TestProductionFlow(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	dbURL, env, proxy, vendorsProc, vendorsURL := pe.dbURL, pe.env, pe.proxy, pe.vendors, pe.vendorsURL
	run1(t, env, "migrate")
	run1(t, env, "migrate") // idempotent
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	w1 := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	w2 := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	w1URL := w1.waitURL(t)
	w2URL := w2.waitURL(t)

	cases := []struct {
		name string
		form url.Values
		want string
	}{
		{"success", canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77"), "/verify/phone"},
		{"failure", canaryForm("Badcanary", "900-41-7723", "22201", "CANARYID77"), "/verify/errors/warning?step=verify_info"},
		{"zip failure", canaryForm("Xylocanary", "900-41-7723", "00000", "CANARYID77"), "/verify/errors/warning?step=verify_info"},
		{"ssn not found", canaryForm("Xylocanary", "123-41-7723", "22201", "CANARYID77"), "/verify/errors/warning?step=verify_info"},
		{"vendor timeout", canaryForm("Timecanary", "900-41-7723", "22201", "CANARYID77"), "/verify/errors/timeout?step=verify_info"},
		{"state id timeout", canaryForm("Xylocanary", "900-41-7723", "22201", "mvatimeout"), "/verify/errors/timeout?step=verify_info"},
		{"state id invalid", canaryForm("Xylocanary", "900-41-7723", "22201", "0000000"), "/verify/errors/warning?step=verify_info"},
		{"vendor exception", canaryForm("Failcanary", "900-41-7723", "22201", "CANARYID77"), "/verify/errors/exception?step=verify_info"},
		{"vendor unreachable", canaryForm("Xylocanary", "000-00-0000", "22201", "CANARYID77"), "/verify/errors/exception?step=verify_info"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPerson(t, base)
			if got := p.verify(tc.form); got != tc.want {
				t.Fatalf("went to %q, want %q", got, tc.want)
			}
			if tc.want != "/verify/phone" {
				return
			}
			for _, ph := range []struct{ phone, want string }{
				{"7035555555", "/verify/errors/warning?step=phone"},
				{"7035555888", "/verify/errors/timeout?step=phone"},
				{"7035555999", "/verify/errors/exception?step=phone"},
				{"7035550199", "/verify/result"},
			} {
				if got := p.step("/verify/phone", url.Values{"phone": {ph.phone}}); got != ph.want {
					t.Fatalf("phone %s went to %q, want %q", ph.phone, got, ph.want)
				}
			}
			if _, _, body := p.do("GET", "/verify/result", nil); !strings.Contains(body, "alert-success") {
				t.Fatalf("result page: %.300s", body)
			}
		})
	}

	// Many people at once, across two worker processes: every job runs
	// exactly once.
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPerson(t, base)
			ssn := fmt.Sprintf("900-42-%04d", i)
			if got := p.verify(canaryForm("Xylocanary", ssn, "22201", "CANARYID77")); got != "/verify/phone" {
				errs <- fmt.Sprintf("person %d went to %q", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// A job logs its line just after storing the result the person sees, so
	// wait (bounded) for the last lines to arrive before counting.
	want := len(cases) + n + 4 // the success case's four phone attempts
	var jobsSeen map[float64]int
	var perWorker [2]int
	for deadline := time.Now().Add(15 * time.Second); ; {
		jobsSeen, perWorker = map[float64]int{}, [2]int{}
		for i, w := range []*proc{w1, w2} {
			for _, line := range strings.Split(w.out.String(), "\n") {
				if !strings.Contains(line, `"msg":"job finished"`) {
					continue
				}
				var l struct {
					JobID float64 `json:"job_id"`
				}
				_ = json.Unmarshal([]byte(line), &l)
				jobsSeen[l.JobID]++
				perWorker[i]++
			}
		}
		if len(jobsSeen) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling captured output
	}
	if len(jobsSeen) != want {
		t.Errorf("jobs finished: %d distinct, want %d", len(jobsSeen), want)
	}
	for id, c := range jobsSeen {
		if c != 1 {
			t.Errorf("job %v ran %d times", id, c)
		}
	}
	t.Logf("jobs per worker: %v", perWorker)

	// PII canary scan: every PostgreSQL table in the schema (River's args and
	// errors included), every Redis key and value, every log line.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Every finished attempt is recorded without PII: outcome, vendors,
	// transaction ids, timings.
	var outcomes, withTxn int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE stages::text LIKE '%transaction_id%') FROM idv_outcomes`).Scan(&outcomes, &withTxn); err != nil {
		t.Fatal(err)
	}
	if outcomes != want || withTxn == 0 {
		t.Errorf("idv_outcomes: %d rows (want %d), %d with transaction ids", outcomes, want, withTxn)
	}
	var byOutcome string
	_ = conn.QueryRow(ctx, `SELECT string_agg(outcome || '=' || n, ',' ORDER BY outcome) FROM (SELECT outcome, count(*) n FROM idv_outcomes GROUP BY outcome) o`).Scan(&byOutcome)
	t.Logf("outcomes recorded: %s", byOutcome)
	dump := dumpStores(t, pe, web, w1, w2, vendorsProc)
	// Metrics: jobs by kind and outcome on the worker, results read on the
	// web tier; scanned for canaries with the rest.
	get := func(u string) string {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		dump.Write(b)
		return string(b)
	}
	workersMetrics := get(w1URL+"/metrics") + get(w2URL+"/metrics")
	webMetrics := get(base + "/metrics")
	for _, want := range []string{
		`idv_jobs_finished_total{kind="resolution_proofing",outcome="success"}`,
		`idv_queue_jobs{queue="resolution_proofing",state="available"}`,
		`idv_vendor_request_seconds_count{outcome="timed_out",vendor="resolution_sim"}`,
	} {
		if !strings.Contains(workersMetrics, want) {
			t.Errorf("workers' metrics lack %s", want)
		}
	}
	if want := `idv_results_read_total{outcome="success",step="verify_info"}`; !strings.Contains(webMetrics, want) {
		t.Errorf("web metrics lack %s", want)
	}
	proxyLog := proxy.Log(t)
	dump.WriteString(proxyLog)
	for _, path := range []string{"/resolution/verify", "/state_id/verify", "/phone/verify"} {
		if !strings.Contains(proxyLog, "POST "+vendorsURL+path) {
			t.Errorf("vendor traffic to %s did not go through the egress proxy", path)
		}
	}
	for _, u := range []string{base + "/api/health", base + "/api/health/outbound", base + "/api/health/jobs"} {
		res, err := http.Get(u)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("%s: %v %v", u, err, res)
		} else {
			res.Body.Close()
		}
	}
	all := strings.ToLower(dump.String())
	for _, c := range canaries {
		if strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("canary %q found in plaintext", c)
		}
	}
	t.Logf("scanned %d bytes in all", dump.Len())
}

// dumpStores returns everything the test's deployment wrote: every row of
// every table in its PostgreSQL schema (River's args and errors included),
// every Redis key and value under its prefix, and the output of procs, for
// PII canary scans.
func dumpStores(t *testing.T, pe prodEnv, procs ...*proc) *strings.Builder {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", pe.schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 3 {
		t.Fatalf("tables: %v %v", tables, err)
	}
	var dump strings.Builder
	for _, tbl := range tables {
		var s string
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %s.%s t`, pe.schema, pgx.Identifier{tbl}.Sanitize()), nil...).Scan(&s); err != nil {
			t.Fatalf("dump %s: %v", tbl, err)
		}
		dump.WriteString(s)
	}
	iter := pe.redis.Scan(ctx, 0, pe.prefix+"*", 1000).Iterator()
	keysSeen := 0
	for iter.Next(ctx) {
		keysSeen++
		v, _ := pe.redis.Get(ctx, iter.Val()).Bytes()
		dump.WriteString(iter.Val())
		dump.Write(v)
	}
	if keysSeen == 0 {
		t.Fatal("no Redis keys under the test prefix: the scan would prove nothing")
	}
	for _, p := range procs {
		dump.WriteString(p.out.String())
	}
	t.Logf("dumped %d tables and %d Redis keys", len(tables), keysSeen)
	return &dump
}

// prodEnv is the production shape's outside parts for one test: its own
// PostgreSQL schema and Redis prefix, a key file, the vendor simulators and
// a tinyproxy egress proxy, and the IDV_ environment that points at them.
type prodEnv struct {
	schema, dbURL, prefix, vendorsURL string
	redis                             *goredis.Client
	env                               []string
	proxy                             *testenv.Proxy
	vendors                           *proc
}

func setupProduction(t *testing.T) prodEnv {
	t.Helper()
	schema, dbURL := testenv.Schema(t)
	rc, prefix := testenv.Redis(t)
	keys := filepath.Join(t.TempDir(), "keys.json")
	run1(t, []string{"IDV_KEYS_FILE=" + keys}, "keys")

	vendorsProc := start(t, nil, "vendors", "vendors", "--addr", "127.0.0.1:0")
	vendorsURL := vendorsProc.waitURL(t)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	env := []string{
		"IDV_VENDORS_PROXY_URL=" + proxy.URL,
		"IDV_DATABASE_URL=" + dbURL, "IDV_DATABASE_SCHEMA=" + schema,
		"IDV_REDIS_ADDR=" + testenv.RedisAddr(), "IDV_REDIS_PREFIX=" + prefix,
		"IDV_KEYS_FILE=" + keys, "IDV_VENDORS_BASE_URL=" + vendorsURL,
		"IDV_VENDORS_RESOLUTION_TIMEOUT=500ms", "IDV_WEB_SECURE_COOKIES=false", "IDV_LOG_LEVEL=debug",
		"IDV_KEYS_FINGERPRINT_KEY=c2VjcmV0LWZpbmdlcnByaW50LWtleS1mb3ItdGVzdHMtb25seQ==",
		// These flows start at verify_info; the document step has its own
		// end-to-end tests against S3 (document_e2e_test.go).
		"IDV_DOC_AUTH_ENABLED=false",
	}
	return prodEnv{schema: schema, dbURL: dbURL, prefix: prefix, vendorsURL: vendorsURL, redis: rc, env: env, proxy: proxy, vendors: vendorsProc}
}

func TestInlineMode(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	env := append(pe.env, "IDV_JOBS_ASYNC=false", "IDV_VENDORS_PHONE_SECONDARY_URL="+pe.vendorsURL)
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	p := newPerson(t, web.waitURL(t))
	if got := p.verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
		t.Fatalf("verify_info went to %q", got)
	}
	if got := p.verify(canaryForm("Timecanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/errors/timeout?step=verify_info" {
		t.Fatalf("timeout went to %q", got)
	}
	// The primary phone vendor says no: the secondary is asked (and says no too).
	if got := p.step("/verify/phone", url.Values{"phone": {"7035555555"}}); got != "/verify/errors/warning?step=phone" {
		t.Fatalf("unverifiable phone went to %q", got)
	}
	if !strings.Contains(web.out.String(), `"phone_secondary":`) {
		t.Fatal("the secondary phone vendor was not asked")
	}
	if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
		t.Fatalf("phone went to %q", got)
	}
	if !strings.Contains(web.out.String(), `"queue":"inline"`) {
		t.Fatal("jobs did not run inline in the web process")
	}
	conn, err := pgx.Connect(context.Background(), pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var jobsRows, sessions int
	if err := conn.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM river_job), (SELECT count(*) FROM idv_capture_sessions)").Scan(&jobsRows, &sessions); err != nil {
		t.Fatal(err)
	}
	if jobsRows != 0 || sessions != 4 {
		t.Fatalf("inline mode: %d job rows (want 0), %d capture sessions (want 4)", jobsRows, sessions)
	}
}

func TestDevModeFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dev := start(t, nil, "web", "dev", "--addr", "127.0.0.1:0", "--data", dir)
	base := dev.waitURL(t)
	p := newPerson(t, base)
	if code, _, body := p.do("GET", "/", nil); code != 200 || !strings.Contains(body, "/verify/document_capture") {
		t.Fatalf("start page: %d", code)
	}
	// The document step through the local object store: the web server
	// itself takes the browser-encrypted uploads on signed URLs.
	photo := testenv.PNG(t, 64, 40)
	stored := func(key string) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, "objects", "objects", filepath.FromSlash(key)))
	}
	if got := p.step("/verify/document_capture", p.uploadDocument(stored, docUpload{front: yamlDocument(canaryDocument), back: photo})); got != "/verify/verify_info" {
		t.Fatalf("document went to %q", got)
	}
	if got := p.verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
		t.Fatalf("went to %q", got)
	}
	if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
		t.Fatalf("phone went to %q", got)
	}
	if got := p.verify(canaryForm("Badcanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/errors/warning?step=verify_info" {
		t.Fatalf("went to %q", got)
	}
	info, err := os.Stat(filepath.Join(dir, "keys.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	var db []byte
	for _, f := range []string{"jobs.sqlite", "jobs.sqlite-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	if len(db) == 0 {
		t.Fatal("no SQLite data to scan")
	}
	if bytes.Contains(db, []byte("Xylocanary")) || bytes.Contains(db, []byte("900-41-7723")) || strings.Contains(dev.out.String(), "Xylocanary") ||
		bytes.Contains(db, []byte("Zorblecanary")) || strings.Contains(dev.out.String(), "Zorblecanary") {
		t.Fatal("canary PII in the SQLite file or logs")
	}
}

// TestWorkerFinishesJobOnSIGTERM: a worker told to stop while a job runs
// stops taking work, finishes the job (the person gets the result) and exits 0.
func TestWorkerFinishesJobOnSIGTERM(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1500ms"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	slowURL := slow.waitURL(t)
	env := append(pe.env, "IDV_VENDORS_BASE_URL="+slowURL, "IDV_VENDORS_RESOLUTION_TIMEOUT=10s")
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	p := newPerson(t, web.waitURL(t))
	worker.waitURL(t)

	conn, err := pgx.Connect(context.Background(), pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if code, _, _ := p.do("POST", "/verify/verify_info", canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); code != 303 {
		t.Fatalf("submit: %d", code)
	}
	// Wait (bounded) until the job is running, then ask the worker to stop.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var running int
		_ = conn.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&running)
		if running == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never started")
		}
		time.Sleep(10 * time.Millisecond) // polling the jobs table
	}
	if err := worker.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit: %v\n%s", err, worker.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not exit after SIGTERM")
	}
	out := worker.out.String()
	stopping, finished := strings.Index(out, `"msg":"worker stopping`), strings.Index(out, `"msg":"job finished"`)
	if stopping < 0 || finished < stopping {
		t.Fatalf("the job running at SIGTERM did not finish after the stop began:\n%s", out)
	}
	if _, _, body := p.do("GET", "/verify/verify_info/status", nil); !strings.Contains(body, `"done"`) {
		t.Fatalf("status after shutdown: %s", body)
	}
	// The web server, too, stops cleanly on SIGTERM.
	if err := web.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	webDone := make(chan error, 1)
	go func() { webDone <- web.cmd.Wait() }()
	select {
	case err := <-webDone:
		if err != nil {
			t.Fatalf("web exit: %v\n%s", err, web.out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("web did not exit after SIGTERM")
	}
}
