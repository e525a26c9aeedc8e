package main

// The fleet test: idv as it runs at scale, on separate hosts. Two web and
// three worker processes of the real binary, each in a network namespace of
// its own, reach PostgreSQL, Redis (a primary, its replica and three
// Sentinels, in namespaces too), versitygw and the vendor simulators over a
// bridge. People verify (document, verify_info, phone) through both web
// hosts while one worker host's cable is pulled and plugged back, and the
// Redis primary is killed so that Sentinel promotes the replica.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/seal"
)

// fleetSubnet is the /24 this test's hosts get addresses from; no other
// test uses it.
const fleetSubnet = "10.199.1"

// Where a fleet person's steps lead: the page each step must reach for the
// person's own input, per first name.
var fleetOutcomes = map[string][]string{
	"Xylocanary": {"/verify/verify_info", pagePhone, pageResult},
	"Badcanary":  {"/verify/verify_info", pageWarning},
	"Failcanary": {"/verify/verify_info", pageException},
}

// fleetAnswer is what one person of the fleet ended with.
type fleetAnswer struct {
	name  string // first name: which outcomes are theirs
	pages []string
	final string // the last page: their outcome, or a timeout page after their retries
	tries int    // submits past the first (503 pages, timeouts retried)
	err   string // what went wrong, if they got no answer
}

// TestFleet is not parallel: it runs alone among this package's tests, so
// its timings are the fleet's, not the other tests'. It skips only without
// root or the ip command (testenv.NewNetwork); CI runs as root.
func TestFleet(t *testing.T) {
	netw := testenv.NewNetwork(t, "idvf", fleetSubnet)
	host := func(name string, last int) *testenv.Host { return netw.Host(t, name, last) }
	r1, r2, s3h := host("redis1", 11), host("redis2", 12), host("sent3", 13)
	webs := []*testenv.Host{host("web1", 21), host("web2", 22)}
	workers := []*testenv.Host{host("worker1", 31), host("worker2", 32), host("worker3", 33)}

	// Outside the namespaces, on this machine's address on the bridge:
	// PostgreSQL, versitygw and the vendor simulators.
	pg := testenv.StartPostgresClusterOn(t, netw.HostIP, fleetSubnet+".0/24")
	s3srv := testenv.S3On(t, netw.HostIP)
	redis := testenv.StartRedisSentinel(t, testenv.RedisSentinelOptions{
		Nodes: []testenv.RedisOptions{{Host: r1.IP, Port: 6379, Netns: r1.Netns}, {Host: r2.IP, Port: 6379, Netns: r2.Netns}},
		Sentinels: []testenv.RedisOptions{
			{Host: r1.IP, Port: 26379, Netns: r1.Netns}, {Host: r2.IP, Port: 26379, Netns: r2.Netns}, {Host: s3h.IP, Port: 26379, Netns: s3h.Netns}},
	})
	keys := t.TempDir() + "/keys.json"
	run1(t, []string{"IDV_KEYS_FILE=" + keys}, "keys", "init")
	// Vendors answer after a second, so jobs are mid-run when a host goes.
	vendors := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1s"}, "vendors", "vendors", "--addr", netw.HostIP+":0")
	env := slices.Concat(docEnv(s3srv), []string{
		"IDV_DATABASE_URL=" + pg.HostURL, "IDV_DATABASE_SCHEMA=",
		"IDV_REDIS_ADDRS=" + strings.Join(redis.SentinelAddrs(), ","), "IDV_REDIS_MASTER_NAME=" + redis.MasterName,
		"IDV_KEYS_FILE=" + keys, "IDV_KEYS_FINGERPRINT_KEY=c2VjcmV0LWZpbmdlcnByaW50LWtleS1mb3ItdGVzdHMtb25seQ==",
		"IDV_VENDORS_BASE_URL=" + vendors.waitURL(t), "IDV_VENDORS_RESOLUTION_TIMEOUT=5s", "IDV_VENDORS_STATE_ID_TIMEOUT=5s",
		"IDV_VENDORS_PHONE_TIMEOUT=5s", "IDV_VENDORS_DOCUMENT_TIMEOUT=10s", "IDV_WEB_SECURE_COOKIES=false",
		// The breaker opens after 5 faults in a row and probes 5 s later.
		"IDV_VENDORS_BREAKER_FAILURES=5", "IDV_VENDORS_BREAKER_COOLDOWN=5s",
	})
	run1(t, env, "migrate")
	var webURLs []string
	var procs []*proc
	for _, h := range webs {
		p := startIn(t, h, env, "web", "web", "--addr", h.IP+":8080", "--ops-addr", h.IP+":9091")
		webURLs = append(webURLs, p.waitURL(t))
		procs = append(procs, p)
	}
	workerProcs := map[string]*proc{}
	for _, h := range workers {
		p := startIn(t, h, env, "worker", "worker", "--addr", h.IP+":9090")
		p.waitURL(t)
		workerProcs[h.Name] = p
		procs = append(procs, p)
	}
	rp := newRP(t, env, webURLs[0], nil)

	// People arrive one every 700 ms while the faults happen, each
	// through one web host and on to the other halfway (no stickiness:
	// sessions are in Redis, results wake every web host).
	// Arrivals go on until every fault has come and gone (at least
	// `during` people, at most `most`), then `after` more arrive at once.
	const during, after, most = 30, 6, 150
	answers := make([]fleetAnswer, most)
	var waiting atomic.Int32 // people on a waiting page now
	var people sync.WaitGroup
	arrive := func(i int) {
		people.Go(func() {
			answers[i] = fleetPerson(t, rp, webURLs[i%2], webURLs[(i+1)%2], i, &waiting)
		})
	}
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		time.Sleep(4 * time.Second) // let the first people get going
		// Pull worker3's cable for longer than jobs.heartbeat_timeout
		// (10 s) while it runs a job: its running jobs are rescued by
		// the other workers.
		cut := workers[2]
		running := waitRunningOn(t, pg.URL, cut.Name, 15*time.Second)
		cut.SetLink(t, false)
		t.Logf("fleet: %s's link cut with %d jobs running on it", cut.Name, running)
		time.Sleep(14 * time.Second) // the host stays cut off
		cut.SetLink(t, true)
		t.Logf("fleet: %s's link restored", cut.Name)

		// Kill the Redis primary; the Sentinels promote the replica.
		old := redis.Primary(t)
		old.Stop(t)
		killed := time.Now()
		t.Logf("fleet: %d people on a waiting page when the Redis primary was killed", waiting.Load())
		promoted := redis.WaitForFailover(t, old, time.Minute)
		t.Logf("fleet: Redis primary %s killed, %s promoted after %s", old.Addr, promoted.Addr, time.Since(killed).Round(100*time.Millisecond))

		// The vendors hang (SIGSTOP: the kernel still accepts their
		// connections, nothing answers): calls time out until a vendor's
		// breaker opens fleet-wide; then calls are shed at once (people
		// see "try again shortly" instead of waiting for the timeout).
		// The vendors come back (SIGCONT), the breaker's probe goes
		// through after the cool-down and closes it.
		if err := vendors.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Errorf("stopping the vendors: %v", err)
			return
		}
		hung := time.Now()
		var openVendors []string
		opened := waitWorkerMetrics(t, workers, time.Minute, func(m string) bool {
			for _, v := range breakerOpenRE.FindAllStringSubmatch(m, -1) {
				openVendors = append(openVendors, v[1])
			}
			return len(openVendors) > 0 && shedCount(m) > 0
		})
		t.Logf("fleet: vendors hung; a breaker open and calls shed %s later (%v)", time.Since(hung).Round(100*time.Millisecond), opened)
		if err := vendors.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Errorf("resuming the vendors: %v", err)
			return
		}
		back := time.Now()
		closed := waitWorkerMetrics(t, workers, time.Minute, func(m string) bool {
			for _, v := range slices.Compact(slices.Sorted(slices.Values(openVendors))) {
				if !strings.Contains(m, `idv_vendor_breaker{state="closed",vendor="`+v+`"} 1`+"\n") {
					return false
				}
			}
			return true
		})
		t.Logf("fleet: vendors back; the breakers of %v closed again by their probes %s later (%v)", openVendors, time.Since(back).Round(100*time.Millisecond), closed)
		if !opened || !closed {
			t.Errorf("vendor breaker: opened and shed %v, closed again %v", opened, closed)
		}
	}()
	n := 0
	for ; n < during || !closedChan(chaosDone); n++ {
		if n >= most-after {
			t.Fatalf("the faults took longer than %d arrivals", n)
		}
		arrive(n)
		time.Sleep(700 * time.Millisecond) // open-loop arrivals
	}
	<-chaosDone
	// A last wave after every fault: the healed fleet (worker3 back, the
	// promoted primary) serves people as before.
	for range after {
		arrive(n)
		n++
	}
	people.Wait()
	answers = answers[:n]

	// Every person got an answer, and only their own.
	tally := map[string]int{}
	for i, a := range answers {
		want := fleetOutcomes[a.name]
		switch {
		case a.err != "":
			t.Errorf("person %d (%s): no answer: %s (pages %q)", i, a.name, a.err, a.pages)
		case a.final == want[len(want)-1]:
			tally["own outcome"]++
		case isRetryPage(a.final):
			tally["a timeout page to retry from"]++
		default:
			t.Errorf("person %d (%s) ended at %q, not their outcome %q", i, a.name, a.final, want[len(want)-1])
		}
		for step, page := range a.pages {
			if page != want[step] && !isRetryPage(page) {
				t.Errorf("person %d (%s): step %d went to %q, want %q: someone else's outcome", i, a.name, step, page, want[step])
			}
		}
		tally["retries"] += a.tries
	}
	if tally["own outcome"] < len(answers)/2 {
		t.Errorf("only %d of %d people reached their outcome", tally["own outcome"], len(answers))
	}
	t.Logf("fleet: %d people: %v", len(answers), tally)

	// No job lost, none run twice: every job ends completed, run and its
	// result stored once, but for the jobs the cut host held when its cable
	// was pulled (at least once: rescued from it and run again elsewhere,
	// as docs/operations.md says).
	checkFleetJobs(t, pg.URL, slices.Collect(maps.Values(workerProcs)))

	// Nothing personal in plaintext in Redis (every key on the promoted
	// primary: sessions, results, counters) or in any process's log.
	ctx := context.Background()
	var dump strings.Builder
	rc := redis.Primary(t).Client(t)
	iter := rc.Scan(ctx, 0, "*", 1000).Iterator()
	keysSeen := 0
	for iter.Next(ctx) {
		keysSeen++
		v, _ := rc.Get(ctx, iter.Val()).Bytes()
		dump.WriteString(iter.Val())
		dump.Write(v)
	}
	if keysSeen == 0 {
		t.Error("no keys on the promoted primary: the scan proves nothing")
	}
	for _, p := range append(procs, vendors) {
		dump.WriteString(p.out.String())
	}
	all := strings.ToLower(dump.String())
	for _, c := range canaries {
		if strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("canary %q found in plaintext in Redis or a log", c)
		}
	}
	if t.Failed() {
		for name, p := range workerProcs {
			t.Logf("%s output (tail):\n%s", name, tail(p.out.String(), 40))
		}
	}
}

// isShed says whether page, at a person's step, is the exception page
// that is not their own outcome there: a vendor's call shed while its
// breaker is open (or a call that failed as the vendors hung).
func isShed(page, name string, step int) bool {
	want := fleetOutcomes[name]
	return strings.HasPrefix(page, "/verify/errors/exception?") && (step >= len(want) || page != want[step])
}

var (
	breakerOpenRE = regexp.MustCompile(`(?m)^idv_vendor_breaker\{state="open",vendor="([^"]+)"\} 1$`)
	shedRE        = regexp.MustCompile(`(?m)^idv_vendor_shed_total\{reason="circuit_open",vendor="[^"]+"\} (\S+)$`)
)

// shedCount sums the calls shed by open breakers in one worker's metrics.
func shedCount(metrics string) float64 {
	var n float64
	for _, m := range shedRE.FindAllStringSubmatch(metrics, -1) {
		f, _ := strconv.ParseFloat(m[1], 64)
		n += f
	}
	return n
}

// waitWorkerMetrics polls the workers' /metrics (at most for wait) until
// ok holds for what they answer together; it reports whether it did.
func waitWorkerMetrics(t *testing.T, workers []*testenv.Host, wait time.Duration, ok func(string) bool) bool {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) { // polling metrics
		var all strings.Builder
		for _, h := range workers {
			res, err := client.Get("http://" + h.IP + ":9090/metrics")
			if err != nil {
				continue // a worker cut off, or busy
			}
			_, _ = io.Copy(&all, res.Body)
			res.Body.Close()
		}
		if ok(all.String()) {
			return true
		}
	}
	return false
}

func closedChan(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// isRetryPage says whether page is one a person retries from: the timeout
// page of a step, or "taking longer than usual".
func isRetryPage(page string) bool {
	return page == seenMissing || strings.HasPrefix(page, "/verify/errors/timeout?")
}

// fleetPerson is person i: sent by the relying party, through the document
// (a stand-in image naming them), verify_info and, when those pass, phone.
// Pages that say "try again" (503 while Redis fails over) are retried a
// second later, as the page tells people to; a timeout page, once.
func fleetPerson(t *testing.T, rp *relyingParty, base, other string, i int, waiting *atomic.Int32) fleetAnswer {
	names := []string{"Xylocanary", "Badcanary", "Failcanary"}
	a := fleetAnswer{name: names[i%len(names)]}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var p *person
	for {
		var err error
		if p, err = rp.tryPerson(t); err == nil {
			break
		}
		if a.tries++; a.tries > 20 || ctx.Err() != nil {
			a.err = "the relying party could not start: " + err.Error()
			return a
		}
		time.Sleep(time.Second) // the relying party trying again
	}
	moveTo(p, base)
	// step submits form to path (made afresh per try by form) until the
	// attempt is enqueued, then waits for its outcome page; a timeout
	// page is tried once more.
	step := func(path string, form func() (url.Values, error)) string {
		retriedTimeout := false
		for {
			f, err := form()
			if err == nil {
				s := submit(p, path, f)
				if s == "" {
					waiting.Add(1)
					got := awaitOutcome(p, path, time.Now().Add(90*time.Second))
					waiting.Add(-1)
					if isShed(got, a.name, len(a.pages)) && time.Now().Add(90*time.Second).Before(deadline) {
						a.tries++
						time.Sleep(time.Second) // "try again shortly"
						continue
					}
					if isRetryPage(got) && !retriedTimeout && time.Now().Add(90*time.Second).Before(deadline) {
						retriedTimeout = true
						a.tries++
						continue
					}
					return got
				}
				err = fmt.Errorf("%s", s)
			}
			if a.tries++; a.tries > 40 || time.Now().After(deadline) {
				return "gave up: " + err.Error()
			}
			time.Sleep(time.Second) // a person reading "try again", then trying
		}
	}
	record := func(page string) bool {
		if strings.HasPrefix(page, "gave up") || strings.HasPrefix(page, "no outcome") || strings.HasPrefix(page, "error") {
			a.err = page
			return false
		}
		a.pages = append(a.pages, page)
		a.final = page
		want := fleetOutcomes[a.name]
		return page == want[len(a.pages)-1] && len(a.pages) < len(want)
	}
	doc := fmt.Sprintf("document:\n  first_name: %s\n  last_name: Quuxcanarylast\n  dob: \"1971-03-17\"\n  address1: 4417 Zyzzyvacanary Lane\n"+
		"  city: Plughcanaryville\n  state: VA\n  zipcode: \"22201\"\n  state_id_number: %s\n  state_id_jurisdiction: VA\n",
		a.name, canaryIDNumber(16, i))
	if !record(step("/verify/document_capture", func() (url.Values, error) { return fleetUpload(p, []byte(doc)) })) {
		return a
	}
	moveTo(p, other) // the rest of the way through the other web host
	form := canaryForm(a.name, fmt.Sprintf("900-16-%04d", i), "22201", canaryIDNumber(16, i))
	if !record(step("/verify/verify_info", func() (url.Values, error) { return form, nil })) {
		return a
	}
	record(step("/verify/phone", func() (url.Values, error) { return url.Values{"phone": {"7035550199"}}, nil }))
	return a
}

// moveTo points p at another web host with the same cookies, as a load
// balancer in front of both would (one name, either host behind it).
func moveTo(p *person, base string) {
	from, _ := url.Parse(p.Base)
	to, _ := url.Parse(base)
	p.Client.Jar.SetCookies(to, p.Client.Jar.Cookies(from))
	p.Base = base
}

// fleetUpload does what the capture page's script does (seal both sides,
// to the workers' HPKE key when the page carries one, ask for an upload
// URL of each ciphertext's length, PUT it there) and returns the form it
// submits; errors (a 503 while Redis fails over) are returned to retry.
func fleetUpload(p *person, front []byte) (url.Values, error) {
	code, _, body, err := try(p, "GET", "/verify/document_capture", nil)
	if err != nil {
		return nil, err
	}
	id := captureIDRE.FindStringSubmatch(body)
	if code != http.StatusOK || id == nil {
		return nil, fmt.Errorf("capture page: HTTP %d", code)
	}
	captureID := id[1]
	form := url.Values{"capture_id": {captureID}}
	var seal1 func(side idv.Side) ([]byte, error)
	if k := imageKeyRE.FindStringSubmatch(body); k != nil {
		raw, err := base64.RawURLEncoding.DecodeString(k[2])
		if err != nil {
			return nil, err
		}
		pub, err := seal.ImageKEM().NewPublicKey(raw)
		if err != nil {
			return nil, err
		}
		seal1 = func(side idv.Side) ([]byte, error) {
			return seal.SealImageHPKE(pub, k[1], seal.ImageInfo(captureID, side), front)
		}
	} else {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		form.Set("encryption_key", base64.StdEncoding.EncodeToString(key))
		seal1 = func(side idv.Side) ([]byte, error) {
			iv := make([]byte, 12)
			_, _ = rand.Read(iv)
			form.Set(string(side)+"_image_iv", base64.StdEncoding.EncodeToString(iv))
			return seal.SealImage(key, iv, front)
		}
	}
	for _, side := range []idv.Side{idv.SideFront, idv.SideBack} {
		ct, err := seal1(side)
		if err != nil {
			return nil, err
		}
		code, _, body, err := try(p, "POST", "/verify/document_capture/upload_url",
			url.Values{"capture_id": {captureID}, "side": {string(side)}, "size": {strconv.Itoa(len(ct))}})
		if err != nil {
			return nil, err
		}
		var answer struct{ URL, Error string }
		if code != http.StatusOK || json.Unmarshal([]byte(body), &answer) != nil || answer.URL == "" {
			return nil, fmt.Errorf("upload URL for the %s: HTTP %d %.200s", side, code, body)
		}
		if code := putObject(p.t, answer.URL, ct); code < 200 || code > 299 {
			return nil, fmt.Errorf("PUT %s: HTTP %d", side, code)
		}
		form.Set(string(side)+"_image_url", answer.URL)
	}
	return form, nil
}

// checkFleetJobs waits (at most a minute) for every job to leave the
// running states, then checks River's rows and the workers' logs: every
// proofing job completed; a job run more than once, or whose result was
// stored by more than one run, only when it was rescued from a lost worker
// (the cut host: at least once), and then twice at most.
func checkFleetJobs(t *testing.T, dbURL string, workers []*proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for {
		var open int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind LIKE '%\_proofing' AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Errorf("%d jobs still not finished", open)
			break
		}
		time.Sleep(250 * time.Millisecond) // polling the queue
	}
	rows, err := conn.Query(ctx, `SELECT id, kind, state, attempt, coalesce(errors::text LIKE '%worker lost%', false) FROM river_job WHERE kind LIKE '%\_proofing'`)
	if err != nil {
		t.Fatal(err)
	}
	jobs, rescued, reran := 0, 0, 0
	rescuedIDs := map[int64]bool{}
	for rows.Next() {
		var id int64
		var kind, state string
		var attempt int
		var lost bool
		if err := rows.Scan(&id, &kind, &state, &attempt, &lost); err != nil {
			t.Fatal(err)
		}
		jobs++
		if lost {
			rescued++
			rescuedIDs[id] = true
		}
		switch {
		case state != "completed":
			t.Errorf("job %d (%s) ended %s: lost", id, kind, state)
		case attempt > 2 || (attempt == 2 && !lost):
			t.Errorf("job %d (%s) ran %d times (rescued from a lost worker: %v)", id, kind, attempt, lost)
		case attempt == 2:
			reran++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Each job stored its result once, from one run: the "job finished"
	// lines with an outcome (not an error) in the workers' logs, per job.
	stored := map[int64]int{}
	for _, p := range workers {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if !strings.Contains(line, `"msg":"job finished"`) {
				continue
			}
			var l struct {
				JobID   int64  `json:"job_id"`
				Outcome string `json:"outcome"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Outcome != "error" {
				stored[l.JobID]++
			}
		}
	}
	twice := 0
	for id, n := range stored {
		if n > 1 && !rescuedIDs[id] {
			t.Errorf("job %d stored its result %d times", id, n)
		} else if n > 1 {
			twice++
		}
	}
	if jobs == 0 || len(stored) != jobs {
		t.Errorf("%d proofing jobs, %d of them logged as finished with an outcome", jobs, len(stored))
	}
	t.Logf("fleet: %d jobs, all completed; %d rescued from the cut host and run again elsewhere (%d of them twice, %d finished by both runs)",
		jobs, rescued, reran, twice)
}

// waitRunningOn waits (at most within) until a job runs on the worker whose
// host name is host (River's client ids start with it) and returns how many
// do; 0 if none did in time.
func waitRunningOn(t *testing.T, dbURL, host string, within time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("fleet: %v", err)
		return 0
	}
	defer conn.Close(context.Background())
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'running' AND kind LIKE '%\_proofing'
			AND attempted_by[array_upper(attempted_by, 1)] LIKE $1 || '\_%'`, host).Scan(&n)
		if err == nil && n > 0 {
			return n
		}
		if ctx.Err() != nil {
			return 0
		}
		time.Sleep(20 * time.Millisecond) // polling for a job on the host
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
