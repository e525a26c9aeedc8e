package openid

import (
	"log/slog"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// sealedRequest is what the relying party sent, sealed in the request's
// row (queue.OIDCRequest.Request) under requestAAD: nothing of it is
// stored in clear.
type sealedRequest struct {
	RedirectURI   string                   `json:"redirect_uri"`
	State         string                   `json:"state,omitempty"`
	Nonce         string                   `json:"nonce,omitempty"`
	Scopes        []string                 `json:"scopes"`
	ResponseType  oidc.ResponseType        `json:"response_type"`
	ResponseMode  oidc.ResponseMode        `json:"response_mode,omitempty"`
	CodeChallenge string                   `json:"code_challenge"`
	Method        oidc.CodeChallengeMethod `json:"code_challenge_method"`
	LoginHint     string                   `json:"login_hint,omitempty"`
	Claims        claimsRequest            `json:"claims"`
}

func requestAAD(id string) []byte { return []byte("idv/oidc-request/v1|" + id) }

// authRequest is a stored authorization request as the op package sees
// it (op.AuthRequest).
type authRequest struct {
	id             string
	clientID       string
	verificationID string
	doneAt         time.Time
	req            sealedRequest
}

var (
	_ op.AuthRequest    = (*authRequest)(nil)
	_ op.LogAuthRequest = (*authRequest)(nil)
)

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return nil }
func (a *authRequest) GetAudience() []string              { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.doneAt }
func (a *authRequest) GetClientID() string                { return a.clientID }
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) Done() bool                         { return !a.doneAt.IsZero() && a.verificationID != "" }

// GetSubject is the verification's id: the person is known to idv by the
// verification they went through for this relying party.
func (a *authRequest) GetSubject() string {
	if !a.Done() {
		return ""
	}
	return a.verificationID
}

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.Method}
}

// LogValue keeps the request's values (state, nonce, hints) out of the
// logs the op package writes.
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.id), slog.String("client_id", a.clientID))
}
