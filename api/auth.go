package api

import (
	"net/http"
	"strings"

	"github.com/idv-dev/idv"
)

// authenticate finds the relying party whose API key the request bears.
// The key is looked up by its SHA-256: a key has 256 bits of entropy, so
// the hash lookup leaks nothing a timing attack could use. Unknown,
// rotated-away and disabled keys get the same answer.
func (h *Handler) authenticate(r *http.Request) (idv.RelyingParty, error) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return idv.RelyingParty{}, &Problem{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Detail: "send your API key as Authorization: Bearer " + idv.APIKeyPrefix + "..."}
	}
	rp, err := h.o.RelyingParties.RelyingPartyByKey(r.Context(), idv.HashToken(key))
	switch {
	case idv.ErrorCode(err) == idv.ENOTFOUND || err == nil && rp.Disabled():
		return idv.RelyingParty{}, &Problem{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Detail: "this API key is unknown, replaced or disabled"}
	case err != nil:
		return idv.RelyingParty{}, err
	}
	return rp, nil
}
