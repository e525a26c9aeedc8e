package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// receiptType is the typ header of idv's receipts (explicit typing: a
// receipt is not mistaken for another token signed by the same keys).
const receiptType = "idv-receipt+jwt"

// receiptChecker checks receipts offline against idv's published keys, as
// a relying party does: the key set is fetched over HTTP and kept, and
// fetched again when a receipt names a key it does not have (idv signs
// with a new key at once after a rotation).
type receiptChecker struct {
	client           *http.Client
	jwksURL          string
	issuer, audience string

	mu   sync.Mutex
	keys jose.JSONWebKeySet
}

func newReceiptChecker(client *http.Client, jwksURL, issuer, audience string) *receiptChecker {
	return &receiptChecker{client: client, jwksURL: jwksURL, issuer: issuer, audience: audience}
}

// receiptClaims are a receipt's claims beyond the registered ones: no PII.
type receiptClaims struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// receiptCheck is the outcome of one check, for the return page.
type receiptCheck struct {
	Verified bool
	Problem  string // why not, when not verified
	KeyID    string
	Status   string
	Checks   map[string]string
	IssuedAt time.Time
}

// check verifies token as the receipt of verification sub: an ES256
// signature by a published key named by its kid, the receipt type, and
// iss, aud (this relying party) and sub (the verification).
func (c *receiptChecker) check(ctx context.Context, token, sub string) receiptCheck {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return receiptCheck{Problem: "not an ES256 JWS: " + err.Error()}
	}
	h := tok.Headers[0]
	out := receiptCheck{KeyID: h.KeyID}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != receiptType {
		out.Problem = fmt.Sprintf("typ is %q, not %s", typ, receiptType)
		return out
	}
	key, err := c.key(ctx, h.KeyID)
	if err != nil {
		out.Problem = err.Error()
		return out
	}
	var std jwt.Claims
	var extra receiptClaims
	if err := tok.Claims(key, &std, &extra); err != nil {
		out.Problem = "signature does not verify: " + err.Error()
		return out
	}
	if err := std.Validate(jwt.Expected{Issuer: c.issuer, AnyAudience: jwt.Audience{c.audience}, Subject: sub}); err != nil {
		out.Problem = fmt.Sprintf("claims: %v (iss %q, aud %q, sub %q)", err, std.Issuer, []string(std.Audience), std.Subject)
		return out
	}
	out.Verified, out.Status, out.Checks = true, extra.Status, extra.Checks
	if std.IssuedAt != nil {
		out.IssuedAt = std.IssuedAt.Time().UTC()
	}
	return out
}

// key returns the public key kid names, fetching the key set again when
// kid is not in the one kept.
func (c *receiptChecker) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	if kid == "" {
		return nil, fmt.Errorf("the receipt names no key (kid)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	set, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.keys = set
	if k := c.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	return nil, fmt.Errorf("key %q is not in the published key set", kid)
}

func (c *receiptChecker) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.jwksURL, nil)
	if err != nil {
		return set, err
	}
	res, err := c.client.Do(req)
	if err != nil {
		return set, fmt.Errorf("fetching the key set: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return set, fmt.Errorf("fetching the key set: HTTP %d", res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return set, fmt.Errorf("fetching the key set: %w", err)
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("the key set does not decode: %w", err)
	}
	return set, nil
}
