package app

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/webhook"
)

// The operators' commands on relying parties, signing keys and webhooks
// (`idv rp`, `idv keys rotate-signing`, `idv webhooks replay`): each opens
// the database and the sealer, does one thing and closes them.

// Admin is an open database and sealer for one operator command.
type Admin struct {
	Config config.Config
	Queue  *queue.Queue
	Sealer *seal.Envelope
}

// OpenAdmin opens what an operator command needs.
func OpenAdmin(ctx context.Context, cfg config.Config, log *slog.Logger) (*Admin, error) {
	sealer, err := OpenSealer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	q, err := OpenQueue(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &Admin{Config: cfg, Queue: q, Sealer: sealer}, nil
}

// Close closes the database.
func (a *Admin) Close() { a.Queue.Close() }

// NewRelyingParty is what `idv rp create` asks for.
type NewRelyingParty struct {
	Name       string
	ReturnURLs []string
	WebhookURL string
	Outputs    []string
	// RedirectURIs make the relying party an OpenID Connect client
	// (matched exactly); TokenAuthMethod is client_secret_basic (the
	// default: the API key is the client secret) or private_key_jwt, whose
	// public keys are JWKS (a JSON Web Key Set).
	RedirectURIs    []string
	TokenAuthMethod string
	JWKS            string
	// Insecure allows http URLs (tests, development).
	Insecure bool
}

// CreatedRelyingParty is a new relying party and its secrets, shown once.
type CreatedRelyingParty struct {
	RelyingParty  idv.RelyingParty
	APIKey        string
	WebhookSecret string // empty without a webhook URL
}

// CreateRelyingParty checks n, creates the relying party with a new API key
// (stored as a hash) and, with a webhook URL, a new webhook secret (stored
// sealed), and returns the secrets: they are not shown again.
func (a *Admin) CreateRelyingParty(ctx context.Context, n NewRelyingParty) (CreatedRelyingParty, error) {
	if strings.TrimSpace(n.Name) == "" || len(n.Name) > 100 {
		return CreatedRelyingParty{}, idv.Errorf(idv.EINVALID, "--name is required (at most 100 characters): the name people see")
	}
	if len(n.ReturnURLs) == 0 && len(n.RedirectURIs) == 0 {
		return CreatedRelyingParty{}, idv.Errorf(idv.EINVALID, "at least one --return-url (or, for OpenID Connect, --redirect-uri) is required: where people go back to")
	}
	jwks, err := checkOIDCClient(n)
	if err != nil {
		return CreatedRelyingParty{}, err
	}
	for _, u := range slices.Concat(n.ReturnURLs, n.RedirectURIs) {
		if err := idv.ValidateEndpointURL(u, n.Insecure); err != nil {
			return CreatedRelyingParty{}, err
		}
	}
	if err := idv.ValidateOutputs(n.Outputs); err != nil {
		return CreatedRelyingParty{}, err
	}
	out := CreatedRelyingParty{}
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	rp := idv.RelyingParty{ID: "rp_" + idv.NewID(), Name: strings.TrimSpace(n.Name), APIKeyHash: hash, APIKeyHint: hint(key),
		ReturnURLs: n.ReturnURLs, Outputs: n.Outputs, WebhookURL: n.WebhookURL, CreatedAt: time.Now().UTC(),
		RedirectURIs: n.RedirectURIs, TokenAuthMethod: cmp.Or(n.TokenAuthMethod, idv.AuthClientSecretBasic), JWKS: jwks}
	if n.WebhookURL != "" {
		if err := webhook.CheckURL(n.WebhookURL, n.Insecure); err != nil && webhook.Permanent(err) {
			return CreatedRelyingParty{}, err
		}
		out.WebhookSecret = webhook.GenerateSecret()
		sealed, err := a.Sealer.Seal(ctx, []byte(out.WebhookSecret), idv.WebhookSecretAAD(rp.ID))
		if err != nil {
			return CreatedRelyingParty{}, err
		}
		rp.WebhookSecret = sealed
	}
	if err := a.Queue.CreateRelyingParty(ctx, rp); err != nil {
		return CreatedRelyingParty{}, err
	}
	out.RelyingParty, out.APIKey = rp, key
	return out, nil
}

// hint is the start of a key, enough to tell keys apart in a list.
// checkOIDCClient checks the OpenID Connect settings of n and returns its
// key set, re-encoded, with public keys only.
func checkOIDCClient(n NewRelyingParty) (string, error) {
	switch n.TokenAuthMethod {
	case "", idv.AuthClientSecretBasic:
		if n.JWKS != "" {
			return "", idv.Errorf(idv.EINVALID, "--jwks is for --token-auth-method private_key_jwt")
		}
		return "", nil
	case idv.AuthPrivateKeyJWT:
	default:
		return "", idv.Errorf(idv.EINVALID, "--token-auth-method must be client_secret_basic or private_key_jwt")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(n.JWKS), &set); err != nil || len(set.Keys) == 0 {
		return "", idv.Errorf(idv.EINVALID, "private_key_jwt needs --jwks: a JSON Web Key Set with the client's public keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return "", idv.Errorf(idv.EINVALID, "--jwks must hold valid public keys only (key %q is not one)", k.KeyID)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return "", idv.WrapError(idv.EINVALID, "--jwks does not encode", err)
	}
	return string(b), nil
}

func hint(key string) string { return key[:len(idv.APIKeyPrefix)+4] }

// RotateRelyingPartyKey gives the relying party a new API key; the old one
// stops working at once.
func (a *Admin) RotateRelyingPartyKey(ctx context.Context, id string) (string, error) {
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	if err := a.Queue.RotateRelyingPartyKey(ctx, id, hash, hint(key)); err != nil {
		return "", err
	}
	return key, nil
}

// RotateSigning makes a new receipt signing key current; the old one stays
// published in the JWKS while receipts it signed may be checked.
func (a *Admin) RotateSigning(ctx context.Context) (string, error) {
	c := &Components{Config: a.Config, Sealer: a.Sealer, Queue: a.Queue}
	s, err := c.Signer(ctx)
	if err != nil {
		return "", err
	}
	return s.Rotate(ctx)
}
