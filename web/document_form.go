package web

import (
	"encoding/base64"
	"net/url"
	"slices"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// urlChecker is the part of an object store that recognises its own URLs.
type urlChecker interface {
	KeyFromURL(rawURL string) (string, error)
}

// parseDocumentForm reads the fields the capture page submits after its
// browser-side uploads (DESIGN.md 2a): encryption_key, front_image_iv,
// back_image_iv (standard base64, as btoa writes them), front_image_url and
// back_image_url, plus capture_id. captureID is the capture whose URLs this
// session was given. Each URL must be exactly the one issued for its side of
// that capture: any other store, bucket, key, side or capture is refused
// here, before anything is fetched. Messages never echo what was sent.
func parseDocumentForm(form url.Values, captureID string, objects urlChecker) (idv.DocumentArguments, idv.FieldErrors) {
	fe := idv.FieldErrors{}
	args := idv.DocumentArguments{CaptureID: captureID}
	if captureID == "" || form.Get(formCaptureID) != captureID {
		fe["front"] = "This page has expired. Please add your photos again."
		return idv.DocumentArguments{}, fe
	}
	key, ok := decodeB64(form.Get("encryption_key"), seal.ImageKeySize)
	if !ok {
		fe["front"] = "Your photos were not encrypted correctly. Please add them again."
	}
	args.EncryptionKey = key
	sides := []struct {
		name string
		iv   *[]byte
		url  *string
	}{{idv.SideFront, &args.FrontIV, &args.FrontURL}, {idv.SideBack, &args.BackIV, &args.BackURL}}
	for _, side := range sides {
		iv, ok := decodeB64(form.Get(side.name+"_image_iv"), seal.ImageIVSize)
		raw := form.Get(side.name + "_image_url")
		k, err := objects.KeyFromURL(raw)
		switch {
		case raw == "":
			fe[side.name] = "Add a photo of the " + side.name + " of your ID."
		case err != nil || k != idv.DocumentImageKey(captureID, side.name):
			fe[side.name] = "This photo did not upload to the right place. Please add it again."
		case !ok:
			fe[side.name] = "This photo was not encrypted correctly. Please add it again."
		}
		*side.iv, *side.url = iv, raw
	}
	if len(fe) > 0 {
		return idv.DocumentArguments{}, fe
	}
	return args, nil
}

// decodeB64 decodes standard base64 (padding optional) of exactly n bytes.
func decodeB64(s string, n int) ([]byte, bool) {
	if len(s) > 4*n {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == n {
			return b, true
		}
	}
	return nil, false
}

// sortedKeys returns m's keys in order, so pages list things stably.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
