package guard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/guard"
	goredis "github.com/redis/go-redis/v9"
)

// twoProcesses returns two guards on one Redis prefix, as two worker
// processes have, each with its own observer.
func twoProcesses(t *testing.T, o guard.Options) (a, b *guard.Guard, oa, ob *fake.Observer) {
	t.Helper()
	client, prefix := testenv.Redis(t)
	o.Prefix = prefix
	oa, ob = &fake.Observer{}, &fake.Observer{}
	o.Observer = oa
	a = guard.New(client, o)
	o.Observer = ob
	b = guard.New(client, o)
	return a, b, oa, ob
}

func admitted(t *testing.T, g *guard.Guard, vendor string) func(bool) {
	t.Helper()
	done, shed := g.Admit(t.Context(), vendor, time.Second)
	if done == nil {
		t.Fatalf("call to %s shed (%s), want admitted", vendor, shed)
	}
	return done
}

func shedAs(t *testing.T, g *guard.Guard, vendor, want string) {
	t.Helper()
	if done, shed := g.Admit(t.Context(), vendor, time.Second); done != nil || shed != want {
		t.Fatalf("call to %s: admitted=%v shed=%q, want shed %q", vendor, done != nil, shed, want)
	}
}

// waitProbe polls until the cool-down has passed and a call is admitted as
// the probe; until then calls are shed.
func waitProbe(t *testing.T, g *guard.Guard, vendor string) func(bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done, shed := g.Admit(t.Context(), vendor, time.Second)
		if done != nil {
			return done
		}
		if shed != idv.VendorShedOpen {
			t.Fatalf("while open: shed %q", shed)
		}
		if time.Now().After(deadline) {
			t.Fatal("no probe admitted after the cool-down")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A run of timeouts and exceptions across processes opens the breaker for
// every process; after the cool-down one probe goes through; its success
// closes the breaker, its failure opens it again.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		probeFault bool
		wantNext   string // "" admitted, or the shed reason
	}{
		{"probe answers", false, ""},
		{"probe times out", true, idv.VendorShedOpen},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// The cool-down is long enough that the sheds after the opening and
			// after a failed probe land inside it on a loaded machine.
			a, b, oa, ob := twoProcesses(t, guard.Options{Failures: 3, Cooldown: 3 * time.Second})
			const v = "document_sim"
			admitted(t, a, v)(true)
			admitted(t, b, v)(true)
			admitted(t, a, v)(true) // the third in a row, fleet-wide
			shedAs(t, b, v, idv.VendorShedOpen)
			shedAs(t, a, v, idv.VendorShedOpen)
			// Another vendor is not affected.
			admitted(t, b, "phone_sim")(false)

			probe := waitProbe(t, b, v)
			shedAs(t, a, v, idv.VendorShedOpen) // one probe at a time
			probe(c.probeFault)
			if c.wantNext == "" {
				admitted(t, a, v)(false)
				admitted(t, b, v)(false)
			} else {
				shedAs(t, a, v, c.wantNext)
			}

			if got := oa.BreakerMoves(); !slices.Contains(got, fake.Shed{Vendor: v, Reason: "open"}) {
				t.Errorf("process a saw %v, want it to open the breaker", got)
			}
			want := []fake.Shed{{Vendor: v, Reason: "half_open"}, {Vendor: v, Reason: "closed"}}
			if c.wantNext != "" {
				want[1].Reason = "open"
			}
			if got := ob.BreakerMoves(); !slices.Equal(got, want) {
				t.Errorf("process b saw %v, want %v", got, want)
			}
			if len(oa.ShedCalls()) == 0 || oa.ShedCalls()[0] != (fake.Shed{Vendor: v, Reason: idv.VendorShedOpen}) {
				t.Errorf("process a shed %v", oa.ShedCalls())
			}
		})
	}
}

// An answer between faults ends the run: the breaker opens only on
// Failures faults in a row.
func TestBreakerNeedsARun(t *testing.T) {
	t.Parallel()
	a, _, _, _ := twoProcesses(t, guard.Options{Failures: 3, Cooldown: time.Minute})
	for _, fault := range []bool{true, true, false, true, true, false, true, true} {
		admitted(t, a, "resolution_sim")(fault)
	}
	admitted(t, a, "resolution_sim")(false)
}

// The concurrency limit counts calls in flight across processes.
func TestConcurrencyLimitIsFleetWide(t *testing.T) {
	t.Parallel()
	a, b, _, ob := twoProcesses(t, guard.Options{Failures: -1, MaxConcurrent: map[string]int{"document_sim": 2}})
	d1 := admitted(t, a, "document_sim")
	d2 := admitted(t, b, "document_sim")
	shedAs(t, a, "document_sim", idv.VendorShedLimit)
	shedAs(t, b, "document_sim", idv.VendorShedLimit)
	admitted(t, b, "phone_sim")(false) // no limit set
	d1(false)
	admitted(t, b, "document_sim")(false)
	d2(true) // the breaker is off: faults shed nothing
	for range 5 {
		admitted(t, a, "document_sim")(true)
	}
	if got := ob.ShedCalls(); !slices.Equal(got, []fake.Shed{{Vendor: "document_sim", Reason: idv.VendorShedLimit}}) {
		t.Errorf("process b shed %v", got)
	}
}

// With Redis unreachable the guard admits every call: the breaker must not
// become the outage.
func TestRedisDownAdmits(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(&goredis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	g := guard.New(client, guard.Options{Failures: 1, MaxConcurrent: map[string]int{"v": 1}})
	for range 3 {
		admitted(t, g, "v")(true)
	}
}

// Through the vendor clients: once a failing vendor's breaker opens, calls
// answer exception at once without reaching it.
func TestClientsShedWhileOpen(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(vendor.Close)
	client, prefix := testenv.Redis(t)
	obs := &fake.Observer{}
	g := guard.New(client, guard.Options{Prefix: prefix, Failures: 2, Cooldown: time.Minute, Observer: obs})
	vc, err := vendors.New(vendors.Config{BaseURL: vendor.URL, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vc.HTTP.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := idv.Applicant{FirstName: "Breakercanary", LastName: "Doe", DOB: "1980-01-01", SSN: "900-11-2222", Phone: "7035550100"}
	for range 2 {
		if r := vc.Phone.ProofPhone(ctx, a); r.Outcome() != idv.OutcomeException {
			t.Fatalf("failing vendor: %+v", r)
		}
	}
	r := vc.Phone.ProofPhone(ctx, a)
	if r.Outcome() != idv.OutcomeException || r.Exception != "vendor unavailable (circuit open)" || r.Vendor != vendors.NamePhone {
		t.Errorf("while open: %+v", r)
	}
	if n := reached.Load(); n != 2 {
		t.Errorf("vendor reached %d times, want 2", n)
	}
	// Nothing in Redis names the person.
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		vals, _ := client.HGetAll(ctx, k).Result()
		for f, v := range vals {
			if f+v == "" || containsAny(k+f+v, "Breakercanary", "900-11-2222", "7035550100") {
				t.Errorf("PII in Redis key %s", k)
			}
		}
	}
	if len(keys) == 0 {
		t.Error("no breaker state in Redis")
	}
}

// A vendor that answers, even with exceptions it reports for each
// request, is up: its breaker stays closed.
func TestAnswersKeepTheBreakerClosed(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":false,"exception":"internal_error"}`))
	}))
	t.Cleanup(vendor.Close)
	client, prefix := testenv.Redis(t)
	g := guard.New(client, guard.Options{Prefix: prefix, Failures: 2, Cooldown: time.Minute})
	vc, err := vendors.New(vendors.Config{BaseURL: vendor.URL, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vc.HTTP.CloseIdleConnections)
	for range 5 {
		if r := vc.Phone.ProofPhone(t.Context(), idv.Applicant{Phone: "7035550100"}); !strings.HasPrefix(r.Exception, "vendor reported ") {
			t.Fatalf("got %+v, want the vendor's exception", r)
		}
	}
	if n := reached.Load(); n != 5 {
		t.Errorf("vendor reached %d of 5 times", n)
	}
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}
