package queue

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

func TestLinkExchangeOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		v := testVerification(t, q, rp)
		now := time.Now().UTC()
		token, hash := idv.NewToken(idv.LinkTokenPrefix)
		exp, err := q.CreateLink(ctx(t), v.ID, hash, now, now.Add(30*time.Minute))
		if err != nil || !exp.Equal(now.Add(30*time.Minute)) {
			t.Fatalf("CreateLink: %v, expires %s", err, exp)
		}
		if q.count(t, `SELECT count(*) FROM {p}idv_verification_links WHERE token_hash = $1`, token) != 0 {
			t.Fatal("the token itself is stored")
		}
		// 10 concurrent exchanges of one link: exactly one gets in.
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() {
				got, err := q.ExchangeLink(ctx(t), hash, now.Add(time.Minute))
				if err == nil && got.ID != v.ID {
					err = fmt.Errorf("exchanged for %s, want %s", got.ID, v.ID)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		var ok int
		for err := range errs {
			switch idv.ErrorCode(err) {
			case "":
				ok++
			case idv.ENOTFOUND:
			default:
				t.Errorf("exchange: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d exchanges of one link succeeded, want 1", ok)
		}
		if _, err := q.ExchangeLink(ctx(t), idv.HashToken("idv_lt_unknown"), now); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("unknown link: %v, want not found", err)
		}
	})
}

func TestLinkExpiryAndReplacement(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		v := testVerification(t, q, rp) // expires in an hour
		now := time.Now().UTC()
		_, first := idv.NewToken(idv.LinkTokenPrefix)
		if _, err := q.CreateLink(ctx(t), v.ID, first, now, now.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.ExchangeLink(ctx(t), first, now.Add(11*time.Minute)); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("expired link: %v, want not found", err)
		}
		// A new link kills the earlier unused one; a link never outlives
		// its verification.
		_, second := idv.NewToken(idv.LinkTokenPrefix)
		exp, err := q.CreateLink(ctx(t), v.ID, second, now, now.Add(48*time.Hour))
		if err != nil || !exp.Equal(v.ExpiresAt) {
			t.Fatalf("CreateLink: %v, expires %s, want the verification's %s", err, exp, v.ExpiresAt)
		}
		_, third := idv.NewToken(idv.LinkTokenPrefix)
		if _, err := q.CreateLink(ctx(t), v.ID, third, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.ExchangeLink(ctx(t), second, now); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("replaced link: %v, want not found", err)
		}
		if _, err := q.CreateLink(ctx(t), "vrf_none", third, now, now.Add(time.Hour)); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("link to no verification: %v", err)
		}
		// A final verification: no new link, and its live link does not
		// open it (and stays unused).
		if _, _, err := q.CancelVerification(ctx(t), v.ID, now); err != nil {
			t.Fatal(err)
		}
		got, err := q.ExchangeLink(ctx(t), third, now)
		if idv.ErrorCode(err) != idv.ECONFLICT || got.Status != idv.VerificationCanceled {
			t.Fatalf("link of a canceled verification: %v %s, want conflict and canceled", err, got.Status)
		}
		if n := q.count(t, `SELECT count(*) FROM {p}idv_verification_links WHERE token_hash = $1 AND used_at IS NULL`, third); n != 1 {
			t.Fatalf("refused exchange spent the link")
		}
		_, fourth := idv.NewToken(idv.LinkTokenPrefix)
		if _, err := q.CreateLink(ctx(t), v.ID, fourth, now, now.Add(time.Hour)); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("link to a canceled verification: %v, want conflict", err)
		}
	})
}

// newVerification is a verification of rp for ref created at the given time.
func newVerification(rp idv.RelyingParty, ref string, at time.Time) idv.Verification {
	return idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: rp.ID, ClientReferenceID: ref,
		CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour), Steps: []idv.StepRecord{{Step: idv.StepDocument, MaxAttempts: 3}}}
}

func TestVerificationWithLinkCreate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		now := time.Now().UTC()
		n := NewVerification{Verification: newVerification(rp, "u1", now), IdempotencyKey: "k", RequestHash: "h"}
		_, h1 := idv.NewToken(idv.LinkTokenPrefix)
		v, created, exp, err := q.CreateVerificationWithLink(ctx(t), n, NewLink{TokenHash: h1, ExpiresAt: now.Add(time.Hour)})
		if err != nil || !created || !exp.Equal(now.Add(time.Hour)) {
			t.Fatalf("create: %v created=%v expires %s", err, created, exp)
		}
		// The repeat answers the same verification with a new link; the
		// first link dies.
		n.Verification.ID = "vrf_" + idv.NewID()
		_, h2 := idv.NewToken(idv.LinkTokenPrefix)
		again, created, _, err := q.CreateVerificationWithLink(ctx(t), n, NewLink{TokenHash: h2, ExpiresAt: now.Add(time.Hour)})
		if err != nil || created || again.ID != v.ID {
			t.Fatalf("repeat: %v created=%v id %s, want %s", err, created, again.ID, v.ID)
		}
		if _, err := q.ExchangeLink(ctx(t), h1, now); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("first link after the repeat: %v, want not found", err)
		}
		if got, err := q.ExchangeLink(ctx(t), h2, now); err != nil || got.ID != v.ID {
			t.Fatalf("second link: %v", err)
		}
		got, hash, err := q.VerificationByIdempotencyKey(ctx(t), rp.ID, "k")
		if err != nil || got.ID != v.ID || hash != "h" {
			t.Fatalf("by key: %v %s %q", err, got.ID, hash)
		}
		if _, _, err := q.VerificationByIdempotencyKey(ctx(t), rp.ID, "other"); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("unknown key: %v", err)
		}
		// Other body: refused, nothing written.
		n.RequestHash = "h-other"
		_, h3 := idv.NewToken(idv.LinkTokenPrefix)
		if _, _, _, err := q.CreateVerificationWithLink(ctx(t), n, NewLink{TokenHash: h3, ExpiresAt: now.Add(time.Hour)}); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("same key, other body: %v, want conflict", err)
		}
		if c := q.count(t, `SELECT count(*) FROM {p}idv_verification_links WHERE token_hash = $1`, h3); c != 0 {
			t.Fatal("refused create wrote a link")
		}
		// A repeat for a final verification answers it without a link.
		if _, _, err := q.CancelVerification(ctx(t), v.ID, now); err != nil {
			t.Fatal(err)
		}
		n.RequestHash = "h"
		final, created, exp, err := q.CreateVerificationWithLink(ctx(t), n, NewLink{TokenHash: h3, ExpiresAt: now.Add(time.Hour)})
		if err != nil || created || final.Status != idv.VerificationCanceled || !exp.IsZero() {
			t.Fatalf("repeat of a canceled one: %v created=%v %s expires %s", err, created, final.Status, exp)
		}
		if c := q.count(t, `SELECT count(*) FROM {p}idv_verifications`); c != 1 {
			t.Fatalf("%d verifications, want 1", c)
		}
	})
}

// Concurrent creates with one key make one verification.
func TestVerificationWithLinkConcurrentRepeats(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		now := time.Now().UTC()
		ids := make(chan string, 8)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				<-start
				n := NewVerification{Verification: newVerification(rp, "u1", now), IdempotencyKey: "k", RequestHash: "h"}
				_, h := idv.NewToken(idv.LinkTokenPrefix)
				v, _, _, err := q.CreateVerificationWithLink(ctx(t), n, NewLink{TokenHash: h, ExpiresAt: now.Add(time.Hour)})
				if err != nil {
					t.Errorf("create: %v", err)
				}
				ids <- v.ID
			})
		}
		close(start)
		wg.Wait()
		close(ids)
		var got []string
		for id := range ids {
			got = append(got, id)
		}
		if len(got) != 8 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 1 {
			t.Fatalf("ids %v, want one", got)
		}
		if c := q.count(t, `SELECT count(*) FROM {p}idv_verification_links WHERE used_at IS NULL`); c != 1 {
			t.Fatalf("%d live links, want 1", c)
		}
	})
}

func TestListVerifications(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp, other := testRP(t, q, false), testRP(t, q, false)
		base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		var want []string // newest first
		for i := range 7 {
			// Pairs share a creation time, so the id breaks ties.
			v := newVerification(rp, fmt.Sprintf("u%d", i%2), base.Add(time.Duration(i/2)*time.Second))
			if _, _, err := q.CreateVerification(ctx(t), NewVerification{Verification: v}); err != nil {
				t.Fatal(err)
			}
			want = append(want, v.ID)
		}
		if _, _, err := q.CreateVerification(ctx(t), NewVerification{Verification: newVerification(other, "u0", base)}); err != nil {
			t.Fatal(err)
		}
		all, _, err := q.ListVerifications(ctx(t), rp.ID, ListFilter{Limit: 100})
		if err != nil || len(all) != 7 {
			t.Fatalf("list: %v, %d rows", err, len(all))
		}
		var order []string
		for _, v := range all {
			order = append(order, v.ID)
		}
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
				t.Fatalf("not newest first: %v", order)
			}
		}
		if len(all[0].Steps) != 1 {
			t.Fatalf("listed without steps: %+v", all[0])
		}
		// Pages of 3 walk the same order, each row once.
		var walked []string
		cursor, pages := "", 0
		for {
			page, next, err := q.ListVerifications(ctx(t), rp.ID, ListFilter{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, v := range page {
				walked = append(walked, v.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if pages != 3 || !slices.Equal(walked, order) {
			t.Fatalf("%d pages %v, want 3 pages %v", pages, walked, order)
		}
		slices.Sort(want)
		slices.Sort(walked)
		if !slices.Equal(want, walked) {
			t.Fatalf("walked %v, want %v", walked, want)
		}

		for _, c := range []struct {
			name string
			f    ListFilter
			n    int
		}{
			{"reference", ListFilter{ClientReferenceID: "u0"}, 4},
			{"status", ListFilter{Status: idv.VerificationRequiresInput}, 7},
			{"other status", ListFilter{Status: idv.VerificationVerified}, 0},
			{"after, inclusive", ListFilter{CreatedAfter: base.Add(time.Second)}, 5},
			{"before, exclusive", ListFilter{CreatedBefore: base.Add(time.Second)}, 2},
			{"range", ListFilter{CreatedAfter: base.Add(time.Second), CreatedBefore: base.Add(3 * time.Second)}, 4},
		} {
			got, next, err := q.ListVerifications(ctx(t), rp.ID, c.f)
			if err != nil || len(got) != c.n || next != "" {
				t.Errorf("%s: %v, %d rows (next %q), want %d", c.name, err, len(got), next, c.n)
			}
		}
		for _, f := range []ListFilter{{Cursor: "not-a-cursor!"}, {Cursor: "bm9kb3Q"}, {Limit: 101}, {Limit: -1}} {
			if _, _, err := q.ListVerifications(ctx(t), rp.ID, f); idv.ErrorCode(err) != idv.EINVALID {
				t.Errorf("%+v: %v, want invalid", f, err)
			}
		}
	})
}

func TestRedactVerification(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		now := time.Now().UTC()
		n := newVerification(rp, "u1", now)
		n.Metadata = []byte("sealed-metadata")
		n.Steps = append(n.Steps, idv.StepRecord{Step: idv.StepIdentity, MaxAttempts: 3})
		v, _, err := q.CreateVerification(ctx(t), NewVerification{Verification: n})
		if err != nil {
			t.Fatal(err)
		}
		cs := mustBegin(t, q, v.ID, idv.StepDocument)
		finish(t, q, v.ID, cs, idv.OutcomeSuccess, []byte("sealed-identity"))
		if _, _, err := q.RedactVerification(ctx(t), v.ID, now); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("redact of an unfinished verification: %v, want conflict", err)
		}
		if got := getV(t, q, v.ID); got.Identity == nil || got.Metadata == nil {
			t.Fatal("refused redact erased data")
		}
		if _, _, err := q.CancelVerification(ctx(t), v.ID, now); err != nil {
			t.Fatal(err)
		}
		got, captures, err := q.RedactVerification(ctx(t), v.ID, now)
		if err != nil || got.Identity != nil || got.Metadata != nil || got.RedactedAt.IsZero() {
			t.Fatalf("redact: %v %+v", err, got)
		}
		if !slices.Equal(captures, []string{cs.ID}) {
			t.Fatalf("captures %v, want [%s]", captures, cs.ID)
		}
		if c := q.count(t, `SELECT count(*) FROM {p}idv_verifications WHERE identity IS NOT NULL OR metadata IS NOT NULL`); c != 0 {
			t.Fatal("sealed data left in the row")
		}
		again, captures, err := q.RedactVerification(ctx(t), v.ID, now.Add(time.Hour))
		if err != nil || !again.RedactedAt.Equal(got.RedactedAt) || len(captures) != 1 {
			t.Fatalf("second redact: %v %s, want the first time %s", err, again.RedactedAt, got.RedactedAt)
		}
		if _, _, err := q.RedactVerification(ctx(t), "vrf_none", now); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("redact of none: %v", err)
		}
	})
}
