package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/idv-dev/idv"
)

// The action routes (link, cancel, redact) take no body; an empty JSON
// object is accepted too, and anything else is refused like a bad create.
type noBody struct{}

// link is POST /v1/verifications/{id}/link: a new single-use link; the
// earlier unused ones die with it.
func (h *Handler) link(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	if err := decodeBody(w, r, &noBody{}, true); err != nil {
		return err
	}
	v, err := h.owned(r.Context(), rp, r.PathValue("id"))
	if err != nil {
		return err
	}
	if v.Status.Final() {
		return &Problem{Status: http.StatusConflict, Code: CodeConflict, Detail: "this verification is already " + string(v.Status)}
	}
	now := h.o.Now().UTC()
	token, tokenHash := idv.NewToken(idv.LinkTokenPrefix)
	expires, err := h.o.Verifications.CreateLink(r.Context(), v.ID, tokenHash, now, now.Add(h.o.LinkLifetime))
	if err != nil {
		return err
	}
	out, err := h.view(r.Context(), v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.withLink(out, token, expires))
	return nil
}

// cancel is POST /v1/verifications/{id}/cancel.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	return h.finish(w, r, rp, h.o.Verifications.CancelVerification)
}

// redact is POST /v1/verifications/{id}/redact.
func (h *Handler) redact(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	return h.finish(w, r, rp, h.o.Verifications.RedactVerification)
}

// finish runs cancel or redact on the relying party's verification, then
// deletes the images of its document attempts. Both store calls may be
// repeated: when a delete fails the answer is 503 and a retry deletes what
// is left.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty,
	do func(ctx context.Context, id string, now time.Time) (idv.Verification, []string, error)) error {
	if err := decodeBody(w, r, &noBody{}, true); err != nil {
		return err
	}
	v, err := h.owned(r.Context(), rp, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, captures, err := do(r.Context(), v.ID, h.o.Now().UTC())
	if err != nil {
		return err
	}
	if err := h.deleteImages(r.Context(), captures); err != nil {
		return err
	}
	out, err := h.view(r.Context(), v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) deleteImages(ctx context.Context, captures []string) error {
	if h.o.Objects == nil {
		return nil // the document step is off: no images
	}
	var errs []error
	for _, c := range captures {
		for _, side := range idv.Sides {
			errs = append(errs, h.o.Objects.Delete(ctx, idv.DocumentImageKey(c, side)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "document images could not all be deleted", err)
	}
	return nil
}
