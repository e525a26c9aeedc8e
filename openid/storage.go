package openid

import (
	"context"
	"crypto/ecdsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/queue"
)

// storage is the op package's view of idv (op.Storage): clients are the
// relying parties, authorization requests, codes and tokens are rows of
// the database (queue), keys are the receipts' keys. Everything the
// relying party sent is sealed at rest; codes are kept as hashes; the
// verified claims are read from the verification's sealed identity when a
// token or userinfo answer is built, and stored nowhere else.
type storage struct{ p *Provider }

var (
	_ op.Storage                   = storage{}
	_ op.CanSetUserinfoFromRequest = storage{}
)

// claimsParamKey carries the raw claims parameter of an authorization
// request from the authorize endpoint's wrapper to CreateAuthRequest (the
// op package does not parse it).
type claimsParamKey struct{}

func (s storage) CreateAuthRequest(ctx context.Context, ar *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	p := s.p
	rp, err := p.o.Store.RelyingParty(ctx, ar.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown client")
	}
	if ar.CodeChallenge == "" || ar.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if slices.Contains(ar.Prompt, oidc.PromptNone) {
		// Every sign-in is a verification the person goes through.
		return nil, oidc.ErrInteractionRequired().WithDescription("a verification needs the person: prompt=none cannot be honoured")
	}
	if ar.LoginHint != "" {
		if err := idv.ValidateReference(ar.LoginHint); err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("login_hint must be your opaque id of the end user: %s", idv.ErrorMessage(err))
		}
	}
	raw, _ := ctx.Value(claimsParamKey{}).(string)
	cr, err := parseClaims(raw)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("%s", idv.ErrorMessage(err))
	}
	if no := cr.refused(rp); len(no) > 0 {
		return nil, oidc.ErrAccessDenied().WithDescription("this client may not receive %s", strings.Join(no, ", "))
	}
	cr = cr.withScopes(ar.Scopes, rp)
	sr := sealedRequest{RedirectURI: ar.RedirectURI, State: ar.State, Nonce: ar.Nonce, Scopes: ar.Scopes,
		ResponseType: ar.ResponseType, ResponseMode: ar.ResponseMode, CodeChallenge: ar.CodeChallenge,
		Method: ar.CodeChallengeMethod, LoginHint: ar.LoginHint, Claims: cr}
	now := p.o.Now().UTC()
	id := "oar_" + idv.NewID()
	plain, _ := json.Marshal(sr)
	sealed, err := p.o.Sealer.Seal(ctx, plain, requestAAD(id))
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if err := p.o.Store.CreateOIDCRequest(ctx, queue.OIDCRequest{ID: id, ClientID: rp.ID, Request: sealed,
		CreatedAt: now, ExpiresAt: now.Add(p.o.RequestLifetime)}); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &authRequest{id: id, clientID: rp.ID, req: sr}, nil
}

// open unseals a stored request.
func (p *Provider) open(ctx context.Context, o queue.OIDCRequest) (*authRequest, error) {
	plain, err := p.o.Sealer.Open(ctx, o.Request, requestAAD(o.ID))
	if err != nil {
		return nil, err
	}
	a := &authRequest{id: o.ID, clientID: o.ClientID, verificationID: o.VerificationID, doneAt: o.DoneAt}
	if err := json.Unmarshal(plain, &a.req); err != nil {
		return nil, idv.Errorf(idv.EINTERNAL, "stored authorization request does not decode")
	}
	return a, nil
}

// request loads a live authorization request.
func (p *Provider) request(ctx context.Context, id string) (*authRequest, queue.OIDCRequest, error) {
	o, err := p.o.Store.OIDCRequest(ctx, id)
	if err != nil {
		return nil, o, err
	}
	if !o.ExpiresAt.After(p.o.Now()) {
		return nil, o, idv.Errorf(idv.ENOTFOUND, "this authorization request has expired")
	}
	a, err := p.open(ctx, o)
	return a, o, err
}

func (s storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, _, err := s.p.request(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	return a, nil
}

func (s storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	o, err := s.p.o.Store.OIDCRequestByCode(ctx, idv.HashToken(code), s.p.o.Now())
	if err != nil {
		if errors.Is(err, queue.ErrCodeReused) {
			s.p.log.WarnContext(ctx, "oidc: authorization code reused: the tokens issued from it are revoked")
		}
		return nil, err
	}
	return s.p.open(ctx, o)
}

// SaveAuthCode keeps the code's hash. A request whose code was already
// exchanged gets no other (Continue pressed again after the sign-in).
func (s storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.p.o.Store.SaveOIDCCode(ctx, id, idv.HashToken(code), s.p.o.Now().Add(s.p.o.CodeLifetime))
	if idv.ErrorCode(err) == idv.ECONFLICT {
		return oidc.ErrInvalidRequest().WithDescription("this sign-in request is already finished")
	}
	return err
}

// DeleteAuthRequest keeps the request: its code is already spent (by
// CreateAccessToken, in the transaction that records the token), and the
// token's userinfo answers read the claims it asked for. Expired requests
// are pruned.
func (s storage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s storage) CreateAccessToken(ctx context.Context, tr op.TokenRequest) (string, time.Time, error) {
	a, ok := tr.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	now := s.p.o.Now().UTC()
	t := queue.OIDCToken{ID: "oat_" + idv.NewID(), RequestID: a.id, ClientID: a.clientID, Subject: a.GetSubject(),
		CreatedAt: now, ExpiresAt: now.Add(s.p.o.TokenLifetime)}
	if err := s.p.o.Store.IssueOIDCToken(ctx, t); err != nil {
		if errors.Is(err, queue.ErrCodeReused) {
			return "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the authorization code was already used")
		}
		return "", time.Time{}, err
	}
	return t.ID, t.ExpiresAt, nil
}

func (s storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not issued")
}

func (s storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s storage) TerminateSession(context.Context, string, string) error { return nil }

func (s storage) RevokeToken(ctx context.Context, token, _, clientID string) *oidc.Error {
	if err := s.p.o.Store.RevokeOIDCToken(ctx, token, clientID, s.p.o.Now()); err != nil && idv.ErrorCode(err) != idv.ECONFLICT {
		return oidc.ErrServerError()
	}
	return nil
}

func (s storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// signingKey is the receipts' current key (op.SigningKey).
type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k signingKey) Key() any                                    { return k.priv }
func (k signingKey) ID() string                                  { return k.kid }

func (s storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	kid, priv, err := s.p.o.Keys.CurrentKey(ctx)
	if err != nil {
		return nil, err
	}
	return signingKey{kid: kid, priv: priv}, nil
}

func (s storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

// publicKey is one published key (op.Key).
type publicKey struct{ k jose.JSONWebKey }

func (k publicKey) ID() string                         { return k.k.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.k.Algorithm) }
func (k publicKey) Use() string                        { return k.k.Use }
func (k publicKey) Key() any                           { return k.k.Key }

func (s storage) KeySet(ctx context.Context) ([]op.Key, error) {
	set, err := s.p.o.Keys.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]op.Key, 0, len(set.Keys))
	for _, k := range set.Keys {
		keys = append(keys, publicKey{k})
	}
	return keys, nil
}

func (s storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	rp, err := s.p.o.Store.RelyingParty(ctx, id)
	if err != nil || rp.Disabled() || len(rp.RedirectURIs) == 0 {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	return client{rp: rp, p: s.p}, nil
}

// AuthorizeClientIDSecret checks client_secret_basic: the secret is the
// relying party's API key, compared by its hash.
func (s storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	rp, err := s.p.o.Store.RelyingParty(ctx, id)
	switch {
	case err != nil || rp.Disabled():
		return oidc.ErrInvalidClient()
	case rp.TokenAuthMethod == idv.AuthPrivateKeyJWT:
		return oidc.ErrInvalidClient().WithDescription("this client authenticates with private_key_jwt")
	case subtle.ConstantTimeCompare([]byte(idv.HashToken(secret)), []byte(rp.APIKeyHash)) != 1:
		return oidc.ErrInvalidClient()
	}
	return nil
}

func (s storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, userID, _ string, _ []string) error {
	info.Subject = userID
	return nil
}

// SetUserinfoFromRequest puts into the ID token the verified_claims the
// claims parameter asked of it.
func (s storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, r op.IDTokenRequest, _ []string) error {
	a, ok := r.(*authRequest)
	if !ok || a.req.Claims.IDToken == nil {
		return nil
	}
	return s.p.addVerifiedClaims(ctx, info, a, a.req.Claims.IDToken)
}

// SetUserinfoFromToken answers userinfo: the token must be live and its
// subject the request's, and the answer carries the verified_claims the
// claims parameter or the scopes asked of userinfo.
func (s storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	now := s.p.o.Now()
	t, err := s.p.o.Store.OIDCToken(ctx, tokenID)
	switch {
	case err != nil:
		return oidc.ErrInvalidRequest().WithDescription("invalid access token")
	case !t.RevokedAt.IsZero() || !t.ExpiresAt.After(now) || t.Subject != subject:
		return oidc.ErrInvalidRequest().WithDescription("the access token is expired or revoked")
	}
	a, _, err := s.p.request(ctx, t.RequestID)
	if err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the access token is expired or revoked")
	}
	info.Subject = subject
	if a.req.Claims.Userinfo == nil {
		return nil
	}
	return s.p.addVerifiedClaims(ctx, info, a, a.req.Claims.Userinfo)
}

// addVerifiedClaims adds verified_claims for a's verification, when it is
// verified and its identity not yet erased: without verification, no
// verified claims.
func (p *Provider) addVerifiedClaims(ctx context.Context, info *oidc.UserInfo, a *authRequest, w *wanted) error {
	if !a.Done() {
		return nil
	}
	rp, err := p.o.Store.RelyingParty(ctx, a.clientID)
	if err != nil {
		return err
	}
	v, err := p.o.Store.Verification(ctx, a.verificationID)
	if err != nil {
		return err
	}
	if v.Status != idv.VerificationVerified {
		return nil
	}
	var person idv.Applicant
	if v.Identity != nil {
		plain, err := p.o.Sealer.Open(ctx, v.Identity, idv.VerificationAAD(v.ID))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(plain, &person); err != nil {
			return idv.Errorf(idv.EINTERNAL, "stored identity does not decode")
		}
	}
	names := w.Claims
	if v.Identity == nil {
		names = nil // redacted: the verification stands, the data is gone
	}
	info.AppendClaims("verified_claims", verifiedClaims(p.o.TrustFramework, rp, v, person, names))
	return nil
}

func (s storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return oidc.ErrUnsupportedGrantType().WithDescription("introspection is not offered")
}

func (s storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID returns a private_key_jwt client's public key.
func (s storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	rp, err := s.p.o.Store.RelyingParty(ctx, clientID)
	if err != nil || rp.Disabled() || rp.TokenAuthMethod != idv.AuthPrivateKeyJWT {
		return nil, oidc.ErrInvalidClient()
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(rp.JWKS), &set); err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("the client's key set does not parse")
	}
	i := slices.IndexFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == keyID && k.IsPublic() })
	if i < 0 && keyID == "" && len(set.Keys) == 1 && set.Keys[0].IsPublic() {
		i = 0
	}
	if i < 0 {
		return nil, oidc.ErrInvalidClient().WithDescription("no key %q for this client", keyID)
	}
	return &set.Keys[i], nil
}

func (s storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s storage) Health(ctx context.Context) error { return nil }
