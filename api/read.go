package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/queue"
)

// get is GET /v1/verifications/{id}: a final verification carries its
// signed receipt.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	v, err := h.owned(r.Context(), rp, r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := h.view(r.Context(), v)
	if err != nil {
		return err
	}
	if v.Status.Final() {
		if out.Receipt, err = h.o.Receipts.Receipt(r.Context(), v); err != nil {
			return err
		}
	}
	if out.Outputs, err = h.outputs(r.Context(), rp, v); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type listView struct {
	Data       []verificationView `json:"data"`
	NextCursor *string            `json:"next_cursor"`
}

var listParams = []string{"client_reference_id", "status", "created_after", "created_before", "limit", "cursor"}

// list is GET /v1/verifications: the relying party's verifications, newest
// first, a page at a time.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, rp idv.RelyingParty) error {
	f, err := listFilter(r)
	if err != nil {
		return err
	}
	page, next, err := h.o.Verifications.ListVerifications(r.Context(), rp.ID, f)
	if err != nil {
		return err
	}
	out := listView{Data: make([]verificationView, 0, len(page)), NextCursor: optional(next)}
	for _, v := range page {
		vv, err := h.view(r.Context(), v)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, vv)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listFilter reads the query strictly: an unknown or repeated parameter is
// refused rather than ignored, so a misspelt filter never silently lists
// everything.
func listFilter(r *http.Request) (queue.ListFilter, error) {
	var f queue.ListFilter
	q := r.URL.Query()
	for name, vals := range q {
		switch {
		case !slices.Contains(listParams, name):
			return f, invalid(name, fmt.Sprintf("unknown query parameter (known: %v)", listParams))
		case len(vals) != 1:
			return f, invalid(name, "give "+name+" once")
		}
	}
	if ref := q.Get("client_reference_id"); q.Has("client_reference_id") {
		if err := idv.ValidateReference(ref); err != nil {
			return f, invalid("client_reference_id", idv.ErrorMessage(err))
		}
		f.ClientReferenceID = ref
	}
	if s := idv.VerificationStatus(q.Get("status")); q.Has("status") {
		if !s.Valid() {
			return f, invalid("status", "status must be one of requires_input, processing, verified, failed, canceled, expired")
		}
		f.Status = s
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if !q.Has(p.name) {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, q.Get(p.name))
		if err != nil {
			return f, invalid(p.name, p.name+" must be an RFC 3339 time such as 2025-01-02T15:04:05Z")
		}
		*p.dst = t.UTC()
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > queue.MaxListLimit {
			return f, invalid("limit", fmt.Sprintf("limit must be a whole number from 1 to %d", queue.MaxListLimit))
		}
		f.Limit = n
	}
	if q.Has("cursor") {
		c := q.Get("cursor")
		if c == "" || len(c) > 256 {
			return f, invalid("cursor", "cursor is not one this API returned")
		}
		f.Cursor = c
	}
	return f, nil
}
