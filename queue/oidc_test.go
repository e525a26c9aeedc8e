package queue

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// The OpenID Provider's rows on both backends: a relying party's client
// settings, a request bound to a verification, its code (hashed) spent once
// with the token recorded in the same transaction, a reused code revoking
// the tokens, expiry and pruning.
func TestOIDCStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, q *Queue) {
		rp := testRP(t, q, false)
		uris := []string{"https://rp.example/cb", "http://127.0.0.1:9/cb"}
		if err := q.SetRelyingPartyRedirectURIs(ctx(t), rp.ID, uris); err != nil {
			t.Fatal(err)
		}
		got, err := q.RelyingParty(ctx(t), rp.ID)
		if err != nil || !slices.Equal(got.RedirectURIs, uris) || got.TokenAuthMethod != idv.AuthClientSecretBasic || got.JWKS != "" {
			t.Fatalf("client settings: %v %+v", err, got)
		}
		v := testVerification(t, q, rp, idv.StepDocument)
		now := time.Now().UTC().Truncate(time.Microsecond)
		req := OIDCRequest{ID: "oar_1", ClientID: rp.ID, Request: []byte("sealed"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := q.CreateOIDCRequest(ctx(t), req); err != nil {
			t.Fatal(err)
		}
		// No code before the request is done.
		if err := q.SaveOIDCCode(ctx(t), req.ID, "h1", now.Add(time.Minute)); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("code for an unfinished request: %v", err)
		}
		if err := q.FinishOIDCRequest(ctx(t), req.ID, now); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("finish without a verification: %v", err)
		}
		if err := q.BindOIDCRequest(ctx(t), req.ID, v.ID); err != nil {
			t.Fatal(err)
		}
		if err := q.FinishOIDCRequest(ctx(t), req.ID, now); err != nil {
			t.Fatal(err)
		}
		o, err := q.OIDCRequest(ctx(t), req.ID)
		if err != nil || o.VerificationID != v.ID || !o.DoneAt.Equal(now) || string(o.Request) != "sealed" {
			t.Fatalf("request: %v %+v", err, o)
		}
		if err := q.SaveOIDCCode(ctx(t), req.ID, "h1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A second code replaces the unspent first.
		if err := q.SaveOIDCCode(ctx(t), req.ID, "h2", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := q.OIDCRequestByCode(ctx(t), "h1", now); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("replaced code: %v", err)
		}
		if _, err := q.OIDCRequestByCode(ctx(t), "h2", now.Add(2*time.Minute)); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("expired code: %v", err)
		}
		if o, err := q.OIDCRequestByCode(ctx(t), "h2", now); err != nil || o.ID != req.ID {
			t.Fatalf("by code: %v %+v", err, o)
		}
		// Concurrent exchanges of one code: one token, which the others,
		// presenting a spent code, revoke (RFC 6749 4.1.2).
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				errs[i] = q.IssueOIDCToken(ctx(t), OIDCToken{ID: "oat_" + string(rune('a'+i)), RequestID: req.ID, ClientID: rp.ID,
					Subject: v.ID, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
			})
		}
		wg.Wait()
		issued := ""
		for i, err := range errs {
			switch {
			case err == nil && issued == "":
				issued = "oat_" + string(rune('a'+i))
			case err == nil:
				t.Fatalf("two tokens for one code")
			case !errors.Is(err, ErrCodeReused):
				t.Fatalf("exchange %d: %v", i, err)
			}
		}
		if issued == "" {
			t.Fatal("no token issued")
		}
		tok, err := q.OIDCToken(ctx(t), issued)
		if err != nil || tok.Subject != v.ID || tok.RevokedAt.IsZero() {
			t.Fatalf("token after its code was presented again: %v %+v", err, tok)
		}
		// The spent code is refused where it is looked up, too.
		if _, err := q.OIDCRequestByCode(ctx(t), "h2", now); !errors.Is(err, ErrCodeReused) {
			t.Fatalf("reused code: %v", err)
		}
		if err := q.SaveOIDCCode(ctx(t), req.ID, "h3", now.Add(time.Minute)); idv.ErrorCode(err) != idv.ECONFLICT {
			t.Fatalf("a new code after the code was spent: %v", err)
		}
		// Pruning takes expired requests and their tokens.
		if n, err := q.PruneOIDC(ctx(t), now.Add(30*time.Minute)); err != nil || n != 0 {
			t.Fatalf("prune before expiry: %d %v", n, err)
		}
		if n, err := q.PruneOIDC(ctx(t), now.Add(2*time.Hour)); err != nil || n != 1 {
			t.Fatalf("prune after expiry: %d %v", n, err)
		}
		if _, err := q.OIDCToken(ctx(t), issued); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("token after prune: %v", err)
		}
	})
}
