package receipt

import (
	"net/http"
	"strconv"
)

// JWKSPath is where the key set is served.
const JWKSPath = "/.well-known/jwks.json"

// jwksMaxAge is how long an RP or a cache may keep the key set. It is
// short because a new key signs at once after a rotation: an RP that meets
// an unknown kid should fetch the set again, and after a few minutes any
// cache has the new key anyway.
const jwksMaxAge = 300

// JWKSHandler serves the key set (GET and HEAD) for JWKSPath. When the keys
// cannot be read it answers 503, uncached.
func (s *Signer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		set, err := s.load(r.Context(), false)
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "signing keys unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
		w.Header().Set("Content-Length", strconv.Itoa(len(set.json)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(set.json)
		}
	})
}
