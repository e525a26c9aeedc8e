package main

// End-to-end tests: the real binary, as separate processes, against the real
// PostgreSQL and Redis (production shape), and `idv dev` (embedded shape).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/internal/testenv"
)

// TestProductionFlow runs the production shape (migrate, a web process,
// two worker processes, the vendor simulators behind an egress proxy) and
// checks one behaviour per subtest, in order, on that one deployment: the
// later ones look at what the earlier ones left behind.
func TestProductionFlow(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	run1(t, pe.env, "migrate")
	run1(t, pe.env, "migrate") // idempotent
	web := start(t, pe.env, "web", "web", "--addr", "127.0.0.1:0")
	w1 := start(t, pe.env, "worker", "worker", "--addr", "127.0.0.1:0")
	w2 := start(t, pe.env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	ops := web.waitOpsURL(t) // metrics and the operators' health checks
	workerURLs := []string{w1.waitURL(t), w2.waitURL(t)}
	rp := newRP(t, pe.env, base, stepsWithoutDocument)

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
	const many = 40
	// Every job of the run: the cases, the many people, and the success
	// case's four phone attempts.
	jobs := len(cases) + many + 4

	t.Run("each input leads to its outcome page", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := rp.person(t)
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
	})

	t.Run("many people at once across two workers: every job runs exactly once", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, many)
		for i := range many {
			wg.Go(func() {
				p, err := rp.tryPerson(t)
				if err != nil {
					errs <- fmt.Sprintf("person %d: %v", i, err)
					return
				}
				// Their own SSN and ID number: each is limited across
				// verifications.
				ssn := fmt.Sprintf("900-42-%04d", i)
				if got := p.verify(canaryForm("Xylocanary", ssn, "22201", canaryIDNumber(42, i))); got != "/verify/phone" {
					errs <- fmt.Sprintf("person %d went to %q", i, got)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		jobsSeen, perWorker := finishedPerWorker(jobs, w1, w2)
		if len(jobsSeen) != jobs {
			t.Errorf("jobs finished: %d distinct, want %d", len(jobsSeen), jobs)
		}
		for id, c := range jobsSeen {
			if c != 1 {
				t.Errorf("job %v ran %d times", id, c)
			}
		}
		t.Logf("jobs per worker: %v", perWorker)
	})

	t.Run("every finished attempt is recorded, with transaction ids", func(t *testing.T) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pe.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var outcomes, withTxn int
		if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE stages::text LIKE '%transaction_id%') FROM idv_outcomes`).Scan(&outcomes, &withTxn); err != nil {
			t.Fatal(err)
		}
		if outcomes != jobs || withTxn == 0 {
			t.Errorf("idv_outcomes: %d rows (want %d), %d with transaction ids", outcomes, jobs, withTxn)
		}
		var byOutcome string
		_ = conn.QueryRow(ctx, `SELECT string_agg(outcome || '=' || n, ',' ORDER BY outcome) FROM (SELECT outcome, count(*) n FROM idv_outcomes GROUP BY outcome) o`).Scan(&byOutcome)
		t.Logf("outcomes recorded: %s", byOutcome)
	})

	t.Run("metrics count jobs, vendor calls and results read", func(t *testing.T) {
		workersMetrics := get(t, workerURLs[0]+"/metrics") + get(t, workerURLs[1]+"/metrics")
		for _, want := range []string{
			`idv_jobs_finished_total{kind="resolution_proofing",outcome="success"}`,
			`idv_queue_jobs{queue="resolution_proofing",state="available"}`,
			`idv_vendor_request_seconds_count{outcome="timed_out",vendor="resolution_sim"}`,
		} {
			if !strings.Contains(workersMetrics, want) {
				t.Errorf("workers' metrics lack %s", want)
			}
		}
		if want := `idv_results_read_total{outcome="success",step="verify_info"}`; !strings.Contains(get(t, ops+"/metrics"), want) {
			t.Errorf("web metrics lack %s", want)
		}
	})

	t.Run("vendor traffic goes through the egress proxy", func(t *testing.T) {
		proxyLog := pe.proxy.Log(t)
		for _, path := range []string{"/resolution/verify", "/state_id/verify", "/phone/verify"} {
			if !strings.Contains(proxyLog, "POST "+pe.vendorsURL+path) {
				t.Errorf("vendor traffic to %s did not go through the egress proxy", path)
			}
		}
	})

	t.Run("health endpoints answer 200", func(t *testing.T) {
		for _, u := range []string{base + "/api/health", ops + "/api/health", ops + "/api/health/outbound", ops + "/api/health/jobs"} {
			res, err := http.Get(u)
			if err != nil || res.StatusCode != 200 {
				t.Errorf("%s: %v %v", u, err, res)
			} else {
				res.Body.Close()
			}
		}
	})

	// Every PostgreSQL table in the schema (River's args and errors
	// included), every Redis key and value, every log line, the metrics and
	// the proxy's log.
	t.Run("no canary PII in plaintext anywhere", func(t *testing.T) {
		dump := dumpStores(t, pe, web, w1, w2, pe.vendors)
		for _, u := range append(workerURLs, ops) {
			dump.WriteString(get(t, u+"/metrics"))
		}
		dump.WriteString(pe.proxy.Log(t))
		all := strings.ToLower(dump.String())
		for _, c := range canaries {
			if strings.Contains(all, strings.ToLower(c)) {
				t.Errorf("canary %q found in plaintext", c)
			}
		}
		t.Logf("scanned %d bytes in all", dump.Len())
	})
}

// finishedPerWorker counts the "job finished" lines of each job id in the
// workers' output, and the lines per worker. A job logs its line just after
// storing the result the person sees, so it waits (at most 15 s) for want
// distinct jobs before counting.
func finishedPerWorker(want int, workers ...*proc) (map[float64]int, []int) {
	for deadline := time.Now().Add(15 * time.Second); ; {
		seen, perWorker := map[float64]int{}, make([]int, len(workers))
		for i, w := range workers {
			for _, line := range strings.Split(w.out.String(), "\n") {
				if !strings.Contains(line, `"msg":"job finished"`) {
					continue
				}
				var l struct {
					JobID float64 `json:"job_id"`
				}
				_ = json.Unmarshal([]byte(line), &l)
				seen[l.JobID]++
				perWorker[i]++
			}
		}
		if len(seen) >= want || time.Now().After(deadline) {
			return seen, perWorker
		}
		time.Sleep(50 * time.Millisecond) // polling captured output
	}
}

// get returns the body of a GET of u.
func get(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
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
	run1(t, []string{"IDV_KEYS_FILE=" + keys}, "keys", "init")

	vendorsProc := start(t, nil, "vendors", "vendors", "--addr", "127.0.0.1:0")
	vendorsURL := vendorsProc.waitURL(t)
	proxy := testenv.Tinyproxy(t, "127.0.0.1")
	env := []string{
		"IDV_VENDORS_PROXY_URL=" + proxy.URL,
		"IDV_DATABASE_URL=" + dbURL, "IDV_DATABASE_SCHEMA=" + schema,
		"IDV_REDIS_ADDR=" + testenv.RedisAddr(), "IDV_REDIS_PREFIX=" + prefix,
		"IDV_KEYS_FILE=" + keys, "IDV_VENDORS_BASE_URL=" + vendorsURL,
		"IDV_VENDORS_RESOLUTION_TIMEOUT=2s", "IDV_VENDORS_PHONE_TIMEOUT=2s", "IDV_WEB_SECURE_COOKIES=false", "IDV_LOG_LEVEL=debug",
		// The simulators answer at once and time out at 2 s: the old
		// per-process slot counts keep a loaded test machine from running
		// every person's vendor calls through tinyproxy at once and
		// stretching some past the timeout. Sizing slots by vendor latency
		// (the defaults) is B6's subject, not these flows'.
		"IDV_JOBS_WORKERS_RESOLUTION_PROOFING=10", "IDV_JOBS_WORKERS_ADDRESS_PROOFING=10",
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
	rp := newRP(t, env, web.waitURL(t), stepsWithoutDocument)
	p := rp.person(t)
	if got := p.verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
		t.Fatalf("verify_info went to %q", got)
	}
	// A passed step is locked: the timeout is another person's.
	if got := rp.person(t).verify(canaryForm("Timecanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/errors/timeout?step=verify_info" {
		t.Fatalf("timeout went to %q", got)
	}
	// The primary phone vendor says no: the secondary is asked (and says no too).
	if got := p.step("/verify/phone", url.Values{"phone": {"7035555555"}}); got != "/verify/errors/warning?step=phone" {
		t.Fatalf("unverifiable phone went to %q", got)
	}
	if !web.logs(`"phone_secondary":`) {
		t.Fatal("the secondary phone vendor was not asked")
	}
	if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
		t.Fatalf("phone went to %q", got)
	}
	if !web.logs(`"queue":"inline"`) {
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
	// No relying party sent this person: `idv dev`'s start page offers a
	// self-serve start, which leads into the document step.
	p := newPerson(t, base)
	if code, _, body := p.do("GET", "/", nil); code != 200 || !strings.Contains(body, `action="/start"`) {
		t.Fatalf("start page: %d", code)
	}
	if first, err := p.SelfServe(context.Background()); err != nil || first != "/verify/document_capture" {
		t.Fatalf("self-serve start: %q %v", first, err)
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
	// A finished verification is locked: the failure is another person's,
	// whose ID names them Badcanary (the name checked is the ID's).
	bad := devPerson(t, base)
	badID := yamlDocument(strings.ReplaceAll(canaryDocument, "Zorblecanary", "Badcanary"))
	if got := bad.step("/verify/document_capture", bad.uploadDocument(stored, docUpload{front: badID, back: photo})); got != "/verify/verify_info" {
		t.Fatalf("document went to %q", got)
	}
	if got := bad.verify(canaryForm("Badcanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/errors/warning?step=verify_info" {
		t.Fatalf("went to %q", got)
	}
	info, err := os.Stat(filepath.Join(dir, "keys.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	// The file holds the queue, the verifications and (since issue 13)
	// the people's sessions, sealed: none may show PII.
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
