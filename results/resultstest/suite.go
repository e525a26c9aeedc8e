// Package resultstest is the conformance suite every results.KV backend must
// pass, and the helpers it needs. It is for tests only.
package resultstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/results"
)

// Fixture is one store under test plus the access the suite needs around it.
type Fixture struct {
	// Store is the store under test, on a keyspace of its own.
	Store *results.Store
	// Peer is a second store on the same backend and keyspace, standing in
	// for another process (a worker writing while the web waits).
	Peer *results.Store
	// KV is the backend under Store; the suite writes raw bytes through it.
	KV results.KV
	// Sealer is the sealer Store uses.
	Sealer idv.Sealer
	// TTL reports how long key has left to live, as the backend sees it.
	TTL func(key string) (time.Duration, error)
	// Waiting reports how many Changed waiters the backend holds.
	Waiting func() int
	// Advance moves the backend's clock forward. Nil for a backend on real
	// time: the suite then checks expiry with a one-second TTL and polls.
	Advance func(d time.Duration)
}

// Deadline bounds every wait in the suite. Waits poll or block on channels;
// none sleeps for a fixed time.
const Deadline = 5 * time.Second

// Run runs the conformance suite. newFixture returns a fresh fixture whose
// store has the given TTL (zero: the default, idv.ResultTTL).
func Run(t *testing.T, newFixture func(t *testing.T, ttl time.Duration) Fixture) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T, time.Duration) Fixture)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"InvalidInput", testInvalidInput},
		{"KeyLayout", testKeyLayout},
		{"TTL", testTTL},
		{"Expiry", testExpiry},
		{"Changed", testChanged},
		{"ChangedFromPeer", testChangedFromPeer},
		{"ChangedManyWaiters", testChangedManyWaiters},
		{"ChangedClosedWithContext", testChangedClosedWithContext},
		{"Tampered", testTampered},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newFixture)
		})
	}
}

var finished = time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC)

// Canary is an applicant whose every value is distinctive, so tests can look
// for it in raw storage, logs and errors.
var Canary = idv.Applicant{
	FirstName:           "Canaryfirst",
	LastName:            "Canarylast",
	DOB:                 "1938-04-17",
	SSN:                 "900-55-1234",
	Address1:            "4242 Canary Lane",
	City:                "Canaryville",
	State:               "MT",
	ZIPCode:             "59999",
	StateIDNumber:       "CANARYID77",
	StateIDJurisdiction: "MT",
	Phone:               "4065550199",
}

// CanaryValues lists Canary's values that must never appear in storage.
func CanaryValues() []string {
	a := Canary
	return []string{a.FirstName, a.LastName, a.DOB, a.SSN, "900551234", a.Address1, a.City, a.StateIDNumber, a.Phone}
}

// DoneWithCanary is a done result carrying Canary.
func DoneWithCanary() idv.AsyncResult {
	a := Canary
	return idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
		Outcome:    idv.OutcomeSuccess,
		Stages:     []idv.Stage{{Name: "document", Result: idv.VendorResult{Vendor: "mock", Success: true, DurationMS: 12}}},
		Applicant:  &a,
		FinishedAt: finished,
	}}
}

func testRoundTrip(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	tests := []struct {
		name string
		in   idv.AsyncResult
		want *idv.AsyncResult // nil: same as in
	}{
		{name: "in progress marker", in: idv.AsyncResult{Status: idv.StatusInProgress}},
		{name: "done with applicant", in: DoneWithCanary()},
		{name: "done failure", in: idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
			Outcome: idv.OutcomeFailure,
			Stages: []idv.Stage{
				{Name: "resolution", Result: idv.VendorResult{Vendor: "lexisnexis", Errors: map[string][]string{"ssn": {"mismatch"}}, TransactionID: "tx-1", DurationMS: 840}},
				{Name: "state_id", Result: idv.VendorResult{Vendor: "aamva", Success: true, VerifiedAttributes: []string{"dob", "state_id_number"}}},
			},
			FailedAttributes: []string{"ssn"},
			FinishedAt:       finished,
		}}},
		{name: "done vendor timeout", in: idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
			Outcome: idv.OutcomeTimedOut, Stages: []idv.Stage{{Name: "phone", Result: idv.VendorResult{Vendor: "address_mock", TimedOut: true}}}, FinishedAt: finished,
		}}},
		{name: "done exception", in: idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
			Outcome: idv.OutcomeException, Stages: []idv.Stage{{Name: "resolution", Result: idv.VendorResult{Vendor: "lexisnexis", Exception: "connection reset"}}}, FinishedAt: finished,
		}}},
		{
			// A vendor string that is not UTF-8 must not break the value:
			// it is stored with the bad bytes replaced.
			name: "invalid UTF-8 from a vendor",
			in: idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
				Outcome: idv.OutcomeFailure, Stages: []idv.Stage{{Name: "resolution", Result: idv.VendorResult{Vendor: "v", Reference: "ref\xff\xfe"}}}, FinishedAt: finished,
			}},
			want: &idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{
				Outcome: idv.OutcomeFailure, Stages: []idv.Stage{{Name: "resolution", Result: idv.VendorResult{Vendor: "v", Reference: "ref\ufffd\ufffd"}}}, FinishedAt: finished,
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id := idv.NewID()
			if err := f.Store.Store(ctx, id, tc.in); err != nil {
				t.Fatalf("Store: %v", err)
			}
			got, err := f.Store.Load(ctx, id)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := tc.in
			if tc.want != nil {
				want = *tc.want
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load = %s, want %s", dump(got), dump(want))
			}
		})
	}
}

func testOverwrite(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	ctx := context.Background()
	id := idv.NewID()
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})
	if got := mustLoad(t, f.Store, id); got.Status != idv.StatusInProgress {
		t.Fatalf("status = %q, want in_progress", got.Status)
	}
	// The worker writes done from another process.
	done := DoneWithCanary()
	if err := f.Peer.Store(ctx, id, done); err != nil {
		t.Fatalf("peer Store: %v", err)
	}
	if got := mustLoad(t, f.Store, id); !reflect.DeepEqual(got, done) {
		t.Fatalf("after overwrite Load = %s, want %s", dump(got), dump(done))
	}
}

func testNotFound(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	for _, id := range []string{idv.NewID(), "", "no-such-id"} {
		_, err := f.Store.Load(context.Background(), id)
		if !errors.Is(err, idv.ErrNotFound) {
			t.Errorf("Load(%q) error = %v, want idv.ErrNotFound", id, err)
		}
	}
}

func testInvalidInput(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	tests := []struct {
		name string
		id   string
		r    idv.AsyncResult
	}{
		{"empty id", "", idv.AsyncResult{Status: idv.StatusInProgress}},
		{"status none", idv.NewID(), idv.AsyncResult{Status: idv.StatusNone}},
		{"status missing", idv.NewID(), idv.AsyncResult{Status: idv.StatusMissing}},
		{"empty status", idv.NewID(), idv.AsyncResult{}},
	}
	for _, tc := range tests {
		err := f.Store.Store(context.Background(), tc.id, tc.r)
		if idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: Store error = %v, want code %s", tc.name, err, idv.EINVALID)
		}
	}
}

func testKeyLayout(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	id := idv.NewID()
	key := f.Store.Key(id)
	if !strings.HasSuffix(key, "result:"+id) || key == "result:"+id {
		t.Errorf("Key(%q) = %q, want <prefix>result:<id>", id, key)
	}
	if f.Peer.Key(id) != key {
		t.Errorf("peer key %q differs from %q", f.Peer.Key(id), key)
	}
}

// testTTL checks the lifetime the backend gives a write: the default 60 s,
// restarted by every write (the done write gives the browser a fresh 60 s).
func testTTL(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	if f.Store.TTL() != idv.ResultTTL {
		t.Fatalf("default TTL = %s, want %s", f.Store.TTL(), idv.ResultTTL)
	}
	ctx := context.Background()
	id := idv.NewID()
	key := f.Store.Key(id)
	// A short-lived raw value first, so the Store below must replace the TTL.
	if err := f.KV.Put(ctx, key, id, []byte("old"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})
	checkTTL(t, f, key, idv.ResultTTL)

	if f.Advance == nil {
		return
	}
	f.Advance(50 * time.Second)
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusDone, Result: &idv.ProofingResult{Outcome: idv.OutcomeSuccess}})
	checkTTL(t, f, key, idv.ResultTTL)
	f.Advance(50 * time.Second) // 100 s after the first write, 50 s after the second
	if got := mustLoad(t, f.Store, id); got.Status != idv.StatusDone {
		t.Fatalf("status = %q, want done", got.Status)
	}
}

func checkTTL(t *testing.T, f Fixture, key string, want time.Duration) {
	t.Helper()
	got, err := f.TTL(key)
	if err != nil {
		t.Fatalf("TTL(%q): %v", key, err)
	}
	if got > want || got < want-2*time.Second {
		t.Fatalf("TTL = %s, want about %s", got, want)
	}
}

func testExpiry(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	ctx := context.Background()
	probe := newFixture(t, 0)
	if probe.Advance != nil {
		f := probe
		id := idv.NewID()
		mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})
		f.Advance(idv.ResultTTL - time.Millisecond)
		mustLoad(t, f.Store, id)
		f.Advance(time.Millisecond)
		if _, err := f.Store.Load(ctx, id); !errors.Is(err, idv.ErrNotFound) {
			t.Fatalf("Load after TTL: error = %v, want idv.ErrNotFound", err)
		}
		if _, err := f.TTL(f.Store.Key(id)); !errors.Is(err, idv.ErrNotFound) {
			t.Fatalf("TTL after expiry: error = %v, want idv.ErrNotFound", err)
		}
		return
	}
	// Real time: a one-second TTL, polled until it lapses.
	f := newFixture(t, time.Second)
	id := idv.NewID()
	start := time.Now()
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})
	if _, err := f.Store.Load(ctx, id); err != nil && time.Since(start) < 900*time.Millisecond {
		t.Fatalf("Load right after Store: %v", err)
	}
	err := poll(func() bool {
		_, err := f.Store.Load(ctx, id)
		return errors.Is(err, idv.ErrNotFound)
	})
	if err != nil {
		t.Fatalf("value under a 1 s TTL still there: %v", err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("value under a 1 s TTL gone after %s", el)
	}
}

// warmUp returns once the store's change notification is live, so that later
// checks see announcements rather than the wake-up every waiter gets when a
// subscription is confirmed.
func warmUp(t *testing.T, s *results.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := idv.NewID()
	ch := s.Changed(ctx, id)
	mustStore(t, s, id, idv.AsyncResult{Status: idv.StatusInProgress})
	waitFor(t, ch, "warm-up notification")
}

func testChanged(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	warmUp(t, f.Store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := idv.NewID(), idv.NewID()
	chA, chB := f.Store.Changed(ctx, a), f.Store.Changed(ctx, b)
	mustStore(t, f.Store, a, idv.AsyncResult{Status: idv.StatusInProgress})
	waitFor(t, chA, "notification for the written id")
	// Both waiters hang off the same fan-out, which has delivered a's
	// announcement: a misrouted wake-up would be here by now.
	select {
	case <-chB:
		t.Fatal("waiter of another id was woken")
	default:
	}
	// The waiter stays registered for the next write.
	mustStore(t, f.Store, a, DoneWithCanary())
	waitFor(t, chA, "notification for the second write")
	mustStore(t, f.Store, b, idv.AsyncResult{Status: idv.StatusInProgress})
	waitFor(t, chB, "notification for the other id")
}

func testChangedFromPeer(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	warmUp(t, f.Store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := idv.NewID()
	ch := f.Store.Changed(ctx, id)
	if err := f.Peer.Store(ctx, id, DoneWithCanary()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, "notification for a peer's write")
	if got := mustLoad(t, f.Store, id); got.Status != idv.StatusDone {
		t.Fatalf("status = %q, want done", got.Status)
	}
}

func testChangedManyWaiters(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	warmUp(t, f.Store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := idv.NewID()
	chans := make([]<-chan struct{}, 20)
	for i := range chans {
		chans[i] = f.Store.Changed(ctx, id)
	}
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})
	for i, ch := range chans {
		waitFor(t, ch, fmt.Sprintf("notification for waiter %d", i))
	}
}

func testChangedClosedWithContext(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	before := f.Waiting()
	ctx, cancel := context.WithCancel(context.Background())
	id := idv.NewID()
	ch := f.Store.Changed(ctx, id)
	if got := f.Waiting(); got != before+1 {
		t.Fatalf("Waiting = %d after Changed, want %d", got, before+1)
	}
	cancel()
	deadline := time.After(Deadline)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-deadline:
			t.Fatal("channel not closed after its context ended")
		}
	}
	if got := f.Waiting(); got != before {
		t.Fatalf("Waiting = %d after cancel, want %d", got, before)
	}
	// Writing after the waiter left must not panic (send on closed channel).
	mustStore(t, f.Store, id, idv.AsyncResult{Status: idv.StatusInProgress})

	// A context that is already done gives a closed channel at once.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	waitClosed(t, f.Store.Changed(done, idv.NewID()))
}

func testTampered(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	sealedAs := func(plain string) func(t *testing.T, key string, raw []byte) []byte {
		return func(t *testing.T, key string, raw []byte) []byte {
			b, err := f.Sealer.Seal(context.Background(), []byte(plain), idv.ResultAAD(key))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	tests := []struct {
		name   string
		mangle func(t *testing.T, key string, raw []byte) []byte
	}{
		{"garbage", func(*testing.T, string, []byte) []byte { return []byte("not a sealed value") }},
		{"empty", func(*testing.T, string, []byte) []byte { return []byte{} }},
		{"flipped first byte", func(_ *testing.T, _ string, raw []byte) []byte { raw[0] ^= 1; return raw }},
		{"flipped middle byte", func(_ *testing.T, _ string, raw []byte) []byte { raw[len(raw)/2] ^= 0x80; return raw }},
		{"flipped last byte", func(_ *testing.T, _ string, raw []byte) []byte { raw[len(raw)-1] ^= 1; return raw }},
		{"truncated", func(_ *testing.T, _ string, raw []byte) []byte { return raw[:len(raw)-1] }},
		{"extended", func(_ *testing.T, _ string, raw []byte) []byte { return append(raw, 0) }},
		{"moved from another key", func(t *testing.T, _ string, _ []byte) []byte {
			// A genuine value under another id must not open here: AAD binds it to its key.
			other := idv.NewID()
			mustStore(t, f.Store, other, idv.AsyncResult{Status: idv.StatusInProgress})
			b, err := f.KV.Get(context.Background(), f.Store.Key(other))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"sealed non-JSON", sealedAs("Canaryfirst 900-55-1234")},
		{"sealed unknown status", sealedAs(`{"status":"Canaryfirst"}`)},
		{"sealed JSON of the wrong shape", sealedAs(`{"status":"done","result":{"stages":900551234}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id := idv.NewID()
			key := f.Store.Key(id)
			mustStore(t, f.Store, id, DoneWithCanary())
			raw, err := f.KV.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.KV.Put(ctx, key, id, tc.mangle(t, key, raw), time.Minute); err != nil {
				t.Fatal(err)
			}
			_, err = f.Store.Load(ctx, id)
			if idv.ErrorCode(err) != idv.ETAMPERED {
				t.Fatalf("Load error = %v, want code %s", err, idv.ETAMPERED)
			}
			for _, v := range CanaryValues() {
				if strings.Contains(err.Error(), v) || strings.Contains(idv.ErrorMessage(err), v) {
					t.Errorf("error %q contains PII %q", err, v)
				}
			}
		})
	}
}

func testConcurrent(t *testing.T, newFixture func(*testing.T, time.Duration) Fixture) {
	f := newFixture(t, 0)
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = idv.NewID()
		mustStore(t, f.Store, ids[i], idv.AsyncResult{Status: idv.StatusInProgress})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				id := ids[(g+i)%len(ids)]
				s := f.Store
				if g%2 == 1 {
					s = f.Peer
				}
				ctx, cancel := context.WithCancel(context.Background())
				_ = s.Changed(ctx, id)
				r := idv.AsyncResult{Status: idv.StatusInProgress}
				if i%3 == 0 {
					r = DoneWithCanary()
				}
				if err := s.Store(ctx, id, r); err != nil {
					errs <- fmt.Errorf("storing: %w", err)
				}
				if got, err := s.Load(ctx, id); err != nil {
					errs <- fmt.Errorf("loading: %w", err)
				} else if got.Status != idv.StatusInProgress && got.Status != idv.StatusDone {
					errs <- fmt.Errorf("loaded status %q", got.Status)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every waiter left with its context.
	if err := poll(func() bool { return f.Waiting() == 0 }); err != nil {
		t.Errorf("%d waiters still registered after their contexts ended", f.Waiting())
	}
}

func mustStore(t *testing.T, s *results.Store, id string, r idv.AsyncResult) {
	t.Helper()
	if err := s.Store(context.Background(), id, r); err != nil {
		t.Fatalf("Store: %v", err)
	}
}

func mustLoad(t *testing.T, s *results.Store, id string) idv.AsyncResult {
	t.Helper()
	r, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
	case <-time.After(Deadline):
		t.Fatalf("no %s within %s", what, Deadline)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("channel received instead of closing")
		}
	case <-time.After(Deadline):
		t.Fatal("channel not closed")
	}
}

// poll calls done every 20 ms until it reports true or Deadline passes.
func poll(done func() bool) error {
	deadline := time.Now().Add(Deadline)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", Deadline)
		}
		<-tick.C
	}
	return nil
}

// dump prints a result for a failure message. Test data only: the Canary is
// not real PII, and %+v of an Applicant is masked anyway.
func dump(r idv.AsyncResult) string {
	if r.Result == nil {
		return fmt.Sprintf("{%s <nil>}", r.Status)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{%s %+v}", r.Status, *r.Result)
	return b.String()
}
