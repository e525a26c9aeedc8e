package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/queue"
)

// createRequest is the body of POST /v1/verifications.
type createRequest struct {
	ClientReferenceID string            `json:"client_reference_id"`
	ReturnURL         string            `json:"return_url,omitempty"`
	Steps             []idv.StepName    `json:"steps,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
}

// Bounds of metadata: small, so it stays the relying party's labels and
// not a data store.
const (
	maxMetadataKeys   = 20
	maxMetadataValue  = 500
	maxIdempotencyKey = 255
)

var metadataKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

// normalize checks req against rp and fills in the defaults: the first
// registered return URL, every step, steps in flow order.
func (req *createRequest) normalize(rp idv.RelyingParty, offered []idv.StepName) error {
	if err := idv.ValidateReference(req.ClientReferenceID); err != nil {
		return invalid("client_reference_id", idv.ErrorMessage(err))
	}
	switch {
	case req.ReturnURL == "" && len(rp.ReturnURLs) > 0:
		req.ReturnURL = rp.ReturnURLs[0]
	case req.ReturnURL != "" && !rp.AllowsReturnURL(req.ReturnURL):
		return invalid("return_url", "return_url must be exactly one of your registered return URLs")
	}
	if req.Steps == nil {
		req.Steps = slices.Clone(offered)
	}
	if len(req.Steps) == 0 {
		return invalid("steps", "steps must name at least one of document, identity, phone")
	}
	for i, st := range req.Steps {
		switch {
		case !slices.Contains(idv.StepNames, st):
			return invalid("steps", "steps may only be document, identity and phone")
		case slices.Contains(req.Steps[:i], st):
			return invalid("steps", fmt.Sprintf("steps names %s twice", st))
		case !slices.Contains(offered, st):
			return invalid("steps", fmt.Sprintf("this deployment does not offer the %s step", st))
		}
	}
	if slices.Contains(req.Steps, idv.StepPhone) && !slices.Contains(req.Steps, idv.StepIdentity) {
		return invalid("steps", "the phone step checks the phone against the identity: ask for identity too")
	}
	ordered := slices.DeleteFunc(slices.Clone(idv.StepNames), func(st idv.StepName) bool { return !slices.Contains(req.Steps, st) })
	req.Steps = ordered
	if len(req.Metadata) > maxMetadataKeys {
		return invalid("metadata", fmt.Sprintf("metadata has more than %d keys", maxMetadataKeys))
	}
	for k, v := range req.Metadata {
		if !metadataKey.MatchString(k) {
			return invalid("metadata", "metadata keys must be 1-40 letters, digits, _ - .")
		}
		if utf8.RuneCountInString(v) > maxMetadataValue {
			return invalid("metadata", fmt.Sprintf("metadata values must be at most %d characters", maxMetadataValue))
		}
	}
	return nil
}

// hash is the request's idempotency fingerprint: SHA-256 of its canonical
// form (normalized, re-encoded with sorted metadata keys), so spacing, key
// order, step order and spelled-out defaults do not make two equal
// requests differ.
func (req createRequest) hash() string {
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func idempotencyKey(r *http.Request) (string, error) {
	vals := r.Header.Values("Idempotency-Key")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", invalid("Idempotency-Key", "send one Idempotency-Key")
	}
	k := vals[0]
	if len(k) == 0 || len(k) > maxIdempotencyKey {
		return "", invalid("Idempotency-Key", fmt.Sprintf("Idempotency-Key must be 1-%d printable ASCII characters", maxIdempotencyKey))
	}
	for i := range len(k) {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", invalid("Idempotency-Key", fmt.Sprintf("Idempotency-Key must be 1-%d printable ASCII characters", maxIdempotencyKey))
		}
	}
	return k, nil
}

// create is POST /v1/verifications. Everything is checked before anything
// is counted or written; the verification, its steps and its first link
// are then written in one transaction.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	ctx := r.Context()
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req createRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := req.normalize(rp, h.o.Steps); err != nil {
		return err
	}
	v, created, token, linkExpires, err := h.createVerification(ctx, rp, req, key)
	if err != nil {
		return err
	}
	out, err := h.view(ctx, v)
	if err != nil {
		return err
	}
	if !linkExpires.IsZero() {
		out = h.withLink(out, token, linkExpires)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/verifications/"+v.ID)
	}
	writeJSON(w, status, out)
	return nil
}

// CreateInput is a verification to create, as POST /v1/verifications takes
// it (client_reference_id, return_url, steps, metadata).
type CreateInput struct {
	ClientReferenceID string
	ReturnURL         string
	Steps             []idv.StepName
	Metadata          map[string]string
}

// CreateVerification creates a verification for rp through the API's own
// path (the same checks and defaults, the per-end-user limit, the sealed
// metadata, one transaction with its first link), for the other doors to
// verifications: the OpenID Provider. Each create counts against rp's
// request limit, as an API request does. Its link is not handed out.
func (h *Handler) CreateVerification(ctx context.Context, rp idv.RelyingParty, in CreateInput) (idv.Verification, error) {
	if err := h.allowRequest(ctx, rp); err != nil {
		return idv.Verification{}, domainError(err)
	}
	req := createRequest(in)
	if err := req.normalize(rp, h.o.Steps); err != nil {
		return idv.Verification{}, domainError(err)
	}
	v, _, _, _, err := h.createVerification(ctx, rp, req, "")
	return v, domainError(err)
}

// domainError turns a problem into the domain's coded error.
func domainError(err error) error {
	var p *Problem
	if !errors.As(err, &p) {
		return err
	}
	switch p.Status {
	case http.StatusTooManyRequests:
		return idv.Errorf(idv.ERATELIMITED, "%s", p.Detail)
	case http.StatusConflict:
		return idv.Errorf(idv.ECONFLICT, "%s", p.Detail)
	}
	return idv.Errorf(idv.EINVALID, "%s", p.Detail)
}

// createVerification creates the verification req (normalized) asks for:
// an idempotent repeat (same key, same request) answers the earlier one
// without counting against the end user's limit.
func (h *Handler) createVerification(ctx context.Context, rp idv.RelyingParty, req createRequest, key string) (v idv.Verification, created bool, token string, linkExpires time.Time, err error) {
	reqHash := req.hash()

	// A repeat is answered without counting against the end user's limit.
	repeat := false
	if key != "" {
		_, earlier, err := h.o.Verifications.VerificationByIdempotencyKey(ctx, rp.ID, key)
		switch {
		case err == nil && earlier != reqHash:
			return v, false, "", time.Time{}, idempotencyConflict
		case err == nil:
			repeat = true
		case idv.ErrorCode(err) != idv.ENOTFOUND:
			return v, false, "", time.Time{}, err
		}
	}
	if !repeat {
		if err := h.allowCreate(ctx, rp, req.ClientReferenceID); err != nil {
			return v, false, "", time.Time{}, err
		}
	}

	now := h.o.Now().UTC()
	v = idv.Verification{ID: "vrf_" + idv.NewID(), RelyingPartyID: rp.ID, ClientReferenceID: req.ClientReferenceID,
		ReturnURL: req.ReturnURL, CreatedAt: now, ExpiresAt: now.Add(h.o.VerificationLifetime)}
	for _, s := range req.Steps {
		v.Steps = append(v.Steps, idv.StepRecord{Step: s, MaxAttempts: h.o.MaxAttempts[s]})
	}
	if len(req.Metadata) > 0 {
		plain, _ := json.Marshal(req.Metadata)
		if v.Metadata, err = h.o.Sealer.Seal(ctx, plain, idv.MetadataAAD(v.ID)); err != nil {
			return v, false, "", time.Time{}, err
		}
	}
	token, tokenHash := idv.NewToken(idv.LinkTokenPrefix)
	v, created, linkExpires, err = h.o.Verifications.CreateVerificationWithLink(ctx,
		queue.NewVerification{Verification: v, IdempotencyKey: key, RequestHash: reqHash},
		queue.NewLink{TokenHash: tokenHash, ExpiresAt: now.Add(h.o.LinkLifetime)})
	switch {
	case idv.ErrorCode(err) == idv.ECONFLICT:
		return v, false, "", time.Time{}, idempotencyConflict
	case err != nil:
		return v, false, "", time.Time{}, err
	}
	return v, created, token, linkExpires, nil
}

var idempotencyConflict = &Problem{Status: http.StatusConflict, Code: CodeIdempotencyConflict,
	Detail: "this Idempotency-Key was used with another request body; use a new key for a new request"}
