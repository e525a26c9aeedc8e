package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/idv-dev/idv"
)

// secretPrefix marks a Standard Webhooks secret; the rest is base64.
const secretPrefix = "whsec_"

// secretBytes is the size of a generated secret: 256 bits, inside the 24
// to 64 bytes Standard Webhooks asks for.
const secretBytes = 32

// GenerateSecret returns a new signing secret in the Standard Webhooks form
// ("whsec_" and base64), to store for an RP and show to it once.
func GenerateSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// parseSecret returns the signer for a secret in the "whsec_" form. Its
// error never quotes the secret.
func parseSecret(secret string) (*standardwebhooks.Webhook, error) {
	raw, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, idv.Errorf(idv.EINVALID, "webhook secret must start with %s", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, idv.Errorf(idv.EINVALID, "webhook secret must be 24 to 64 bytes in base64 after %s", secretPrefix)
	}
	return standardwebhooks.NewWebhookRaw(key)
}

// Destination is where an RP receives its events and the secret they are
// signed with. It masks the secret when printed or logged.
type Destination struct {
	URL    string
	Secret string // "whsec_…"
}

const masked = "[REDACTED]"

// String masks the secret.
func (d Destination) String() string {
	return "webhook.Destination{URL:" + d.URL + " Secret:" + masked + "}"
}

// GoString masks like String, for %#v.
func (d Destination) GoString() string { return d.String() }

// Format masks under every verb.
func (d Destination) Format(f fmt.State, _ rune) { fmt.Fprint(f, d.String()) }

// LogValue masks in slog output.
func (d Destination) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", d.URL), slog.String("secret", masked))
}
