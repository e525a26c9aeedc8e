package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
)

// verificationView is a verification as the API shows it (the Verification
// schema of openapi.yaml). It holds the relying party's metadata and, in
// answers to create and link, the person's link: it is written to the
// relying party only, never logged.
type verificationView struct {
	ID                string                 `json:"id"`
	Status            idv.VerificationStatus `json:"status"`
	ClientReferenceID string                 `json:"client_reference_id"`
	ReturnURL         string                 `json:"return_url,omitempty"`
	Steps             []stepView             `json:"steps"`
	LastError         *string                `json:"last_error"`
	Metadata          map[string]string      `json:"metadata"`
	CreatedAt         time.Time              `json:"created_at"`
	ExpiresAt         time.Time              `json:"expires_at"`
	FinishedAt        *time.Time             `json:"finished_at"`
	RedactedAt        *time.Time             `json:"redacted_at"`
	URL               string                 `json:"url,omitempty"`
	LinkExpiresAt     *time.Time             `json:"link_expires_at,omitempty"`
	Receipt           string                 `json:"receipt,omitempty"`
	Outputs           *outputsView           `json:"outputs,omitempty"`
}

type stepView struct {
	Step         idv.StepName   `json:"step"`
	Status       idv.StepStatus `json:"status"`
	Attempts     int            `json:"attempts"`
	AttemptsLeft int            `json:"attempts_left"`
}

// view shows v, opening its metadata.
func (h *Handler) view(ctx context.Context, v idv.Verification) (verificationView, error) {
	out := verificationView{
		ID: v.ID, Status: v.Status, ClientReferenceID: v.ClientReferenceID, ReturnURL: v.ReturnURL,
		Steps: make([]stepView, 0, len(v.Steps)), LastError: optional(v.LastError),
		CreatedAt: v.CreatedAt.UTC(), ExpiresAt: v.ExpiresAt.UTC(),
		FinishedAt: optionalTime(v.FinishedAt), RedactedAt: optionalTime(v.RedactedAt),
	}
	for _, s := range v.Steps {
		out.Steps = append(out.Steps, stepView{Step: s.Step, Status: s.Status, Attempts: s.Attempts, AttemptsLeft: s.AttemptsLeft()})
	}
	switch {
	case v.Metadata != nil:
		plain, err := h.o.Sealer.Open(ctx, v.Metadata, idv.MetadataAAD(v.ID))
		if err != nil {
			return out, err
		}
		if err := json.Unmarshal(plain, &out.Metadata); err != nil {
			return out, idv.WrapError(idv.EINTERNAL, "stored metadata does not decode", err)
		}
	case v.RedactedAt.IsZero():
		out.Metadata = map[string]string{}
	}
	return out, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// withLink adds the person's link to a view.
func (h *Handler) withLink(out verificationView, token string, expires time.Time) verificationView {
	out.URL = h.o.PublicURL + "/start/" + token
	out.LinkExpiresAt = optionalTime(expires)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// owned loads the verification id of rp; another relying party's is
// answered exactly as a missing one.
func (h *Handler) owned(ctx context.Context, rp idv.RelyingParty, id string) (idv.Verification, error) {
	v, err := h.o.Verifications.Verification(ctx, id)
	switch {
	case idv.ErrorCode(err) == idv.ENOTFOUND:
		return v, notFound
	case err != nil:
		return v, err
	case v.RelyingPartyID != rp.ID:
		return idv.Verification{}, notFound
	}
	return v, nil
}
