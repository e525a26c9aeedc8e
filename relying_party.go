package idv

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A RelyingParty is a service that asks idv to verify a person and reads the
// outcome: by API key, webhook and receipt.
type RelyingParty struct {
	ID string `json:"id"`
	// Name is the service's name, shown to the person ("Continue to ...").
	Name string `json:"name" pii:"false"` // a service's name, not a person's
	// APIKeyHash is HashToken of the API key; the key itself is shown once.
	APIKeyHash string `json:"-" pii:"false"` // a hash of a 256-bit secret
	// APIKeyHint is the key's first characters, to tell keys apart.
	APIKeyHint string `json:"api_key_hint" pii:"false"` // a prefix of the key, too short to use
	// WebhookURL receives the events; empty means no webhooks.
	WebhookURL string `json:"webhook_url,omitempty" pii:"false"` // the service's endpoint
	// WebhookSecret is the Standard Webhooks signing secret, sealed under
	// WebhookSecretAAD.
	WebhookSecret []byte `json:"-" pii:"false"` // ciphertext (seal)
	// ReturnURLs are where the person may be sent back, matched exactly.
	ReturnURLs []string `json:"return_urls" pii:"false"` // the service's pages
	// Outputs are the verified attributes the service may read.
	Outputs []string `json:"outputs"`
	// RedirectURIs are the service's OpenID Connect redirect URIs, matched
	// exactly; none means it is not an OpenID Connect client.
	RedirectURIs []string `json:"redirect_uris,omitempty" pii:"false"` // the service's pages
	// TokenAuthMethod is how the service authenticates at the token
	// endpoint: client_secret_basic (its API key is the client secret) or
	// private_key_jwt (a JWT signed with a key in JWKS).
	TokenAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// JWKS is the service's public key set (JSON) for private_key_jwt.
	JWKS       string    `json:"-" pii:"false"` // public keys of a service
	CreatedAt  time.Time `json:"created_at"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
}

// Disabled reports whether the relying party was disabled.
func (rp RelyingParty) Disabled() bool { return !rp.DisabledAt.IsZero() }

// AllowsReturnURL reports whether u is one of the registered return URLs,
// compared exactly: no prefix, host or path matching, so no open redirect.
func (rp RelyingParty) AllowsReturnURL(u string) bool {
	return u != "" && slices.Contains(rp.ReturnURLs, u)
}

// Token endpoint authentication methods of an OpenID Connect client.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// AllowsRedirectURI reports whether u is one of the registered OpenID
// Connect redirect URIs, compared exactly.
func (rp RelyingParty) AllowsRedirectURI(u string) bool {
	return u != "" && slices.Contains(rp.RedirectURIs, u)
}

// WebhookSecretAAD binds a relying party's sealed webhook secret to it.
func WebhookSecretAAD(id string) []byte { return []byte("idv/relying-party/v1|" + id + "|webhook") }

// APIKeyPrefix starts every API key, so a leaked key is recognisable (for
// secret scanners) and never mistaken for a link token.
const APIKeyPrefix = "idv_sk_"

// LinkTokenPrefix starts every person's link token.
const LinkTokenPrefix = "idv_lt_"

// Outputs a relying party may be allowed to read, once verified.
var KnownOutputs = []string{"name", "dob", "address", "id_document", "phone"}

var referencePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ValidateReference checks a client_reference_id: an opaque id of the
// relying party's end user, 1 to 128 characters of letters, digits and
// . _ : -. An e-mail address or a name with spaces does not fit, which keeps
// PII out of a column that is stored and listed in clear.
func ValidateReference(ref string) error {
	if !referencePattern.MatchString(ref) {
		return Errorf(EINVALID, "client_reference_id must be 1-128 characters of letters, digits and . _ : - (an opaque id, not an e-mail address or a name)")
	}
	return nil
}

// ValidateEndpointURL checks a return or webhook URL a relying party
// registers: absolute, http(s), no user info or fragment. Plain http is
// allowed only when insecure is set (tests, `idv dev`).
func ValidateEndpointURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return Errorf(EINVALID, "%q is not an absolute URL", raw)
	case u.User != nil || u.Fragment != "":
		return Errorf(EINVALID, "%q must not carry user info or a fragment", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && insecure:
		return nil
	}
	return Errorf(EINVALID, "%q must be an https URL", raw)
}

// ValidateOutputs checks that every output is known.
func ValidateOutputs(outputs []string) error {
	for _, o := range outputs {
		if !slices.Contains(KnownOutputs, o) {
			return Errorf(EINVALID, "unknown output %q (known: %s)", o, strings.Join(KnownOutputs, ", "))
		}
	}
	return nil
}

// RelyingPartyStore keeps relying parties.
type RelyingPartyStore interface {
	CreateRelyingParty(ctx context.Context, rp RelyingParty) error
	// RelyingPartyByKey returns the enabled relying party whose API key
	// hashes to hash, or ErrNotFound.
	RelyingPartyByKey(ctx context.Context, hash string) (RelyingParty, error)
	RelyingParty(ctx context.Context, id string) (RelyingParty, error)
	RelyingParties(ctx context.Context) ([]RelyingParty, error)
	// RotateRelyingPartyKey replaces the API key hash (the old key stops
	// working at once) and returns the updated row.
	RotateRelyingPartyKey(ctx context.Context, id, hash, hint string) error
	DisableRelyingParty(ctx context.Context, id string, at time.Time) error
}
