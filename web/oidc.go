package web

import (
	"context"
	"net/http"

	"github.com/idv-dev/idv"
)

// The OpenID Connect door (DESIGN.md section 11): an authorization request
// at /oidc/authorize (package openid) sends the person to OIDCLoginPath,
// which starts or resumes the request's verification and binds the session
// to it; the person then goes through the same pages, and the last page's
// Continue leads to OIDCContinuePath, which returns the person to the
// relying party with a code, or with error=access_denied when the
// verification failed or was canceled.

// Paths the OpenID Provider sends the person to.
const (
	OIDCLoginPath    = "/oidc/login"
	OIDCContinuePath = "/oidc/continue"
)

// keyOIDCRequest is the session's authorization request, if it came
// through the OpenID Connect door.
const keyOIDCRequest = "oidc_request"

// OIDC is what the pages need of the OpenID Provider (*openid.Provider).
type OIDC interface {
	// Begin starts or resumes the verification of authorization request
	// id for a session bound to current ("" none) and returns its id.
	Begin(ctx context.Context, id, current string) (string, error)
	// Finish answers the relying party for a final verification: a
	// redirect to its redirect URI with a code or an error.
	Finish(w http.ResponseWriter, r *http.Request, id, verificationID string)
}

func (s *Server) serveOIDCLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	current := s.sessions.GetString(ctx, keyVerification)
	vid, err := s.oidc.Begin(ctx, id, current)
	switch idv.ErrorCode(err) {
	case "":
	case idv.ENOTFOUND, idv.EINVALID:
		s.renderError(w, r, http.StatusNotFound, "This sign-in request has expired or is unknown. Go back to the service that sent you here and start again.")
		return
	case idv.ECONFLICT:
		s.renderError(w, r, http.StatusConflict, "This sign-in request is already in use or finished. Go back to the service that sent you here and start again.")
		return
	case idv.ERATELIMITED:
		s.renderError(w, r, http.StatusTooManyRequests, "There have been too many verifications for this account. Please try again later.")
		return
	default:
		s.fail(w, r, err)
		return
	}
	if vid != current {
		if err := s.bind(ctx, vid); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.sessions.Put(ctx, keyOIDCRequest, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// serveOIDCContinue is the last page's Continue for a session that came
// through the OpenID Connect door.
func (s *Server) serveOIDCContinue(w http.ResponseWriter, r *http.Request) {
	v := verificationOf(r.Context())
	id := s.sessions.GetString(r.Context(), keyOIDCRequest)
	if id == "" || !v.Status.Final() {
		http.Redirect(w, r, resultPath, http.StatusSeeOther)
		return
	}
	s.oidc.Finish(w, r, id, v.ID)
}

// continueURL is where the last page's Continue leads: back through the
// OpenID Provider for a session that came through it, else the
// verification's registered return URL.
func (s *Server) continueURL(ctx context.Context, v idv.Verification) string {
	if s.oidc != nil && s.sessions.GetString(ctx, keyOIDCRequest) != "" {
		return OIDCContinuePath
	}
	return returnURL(v)
}
