package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/internal/fake"
)

// staticImageKey is the public key a web tier serves: it has nothing else.
type staticImageKey struct {
	key imagekey.PublicKey
	err error
}

func (s *staticImageKey) CurrentImageKey(context.Context) (imagekey.PublicKey, error) {
	return s.key, s.err
}

func newHPKEHarness(t *testing.T, keys ImageKeys) *harness {
	t.Helper()
	objects := &fake.ObjectStore{}
	return newHarnessOpts(t, func(o *Options) {
		o.Documents = &DocumentOptions{Objects: objects, Presigned: true, ImageKeys: keys}
	})
}

// Under hpke the page carries the workers' public key and its id and the
// script that seals to it, and has no field for a key or an IV; the form it
// submits is the capture id and the two URLs, and the job's arguments hold
// nothing that opens an image.
func TestDocumentHPKEPageAndSubmit(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 65)
	raw[0] = 4
	keys := &staticImageKey{key: imagekey.PublicKey{ID: "key-one", Raw: raw}}
	h := newHPKEHarness(t, keys)
	code, _, body := h.do("GET", "/verify/document_capture", nil)
	id := captureIDRE.FindStringSubmatch(body)
	if code != 200 || id == nil {
		t.Fatalf("%d %.300s", code, body)
	}
	for _, want := range []string{`data-encryption="hpke"`, `data-image-key-id="key-one"`,
		`data-image-key="` + base64.RawURLEncoding.EncodeToString(raw) + `"`, `/static/hpke.js`, `/static/document_capture.js`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, not := range []string{`name="encryption_key"`, `_image_iv"`} {
		if strings.Contains(body, not) {
			t.Errorf("page has %s", not)
		}
	}

	form := url.Values{"capture_id": {id[1]},
		"front_image_url": {fake.ObjectURL(idv.DocumentImageKey(id[1], idv.SideFront))},
		"back_image_url":  {fake.ObjectURL(idv.DocumentImageKey(id[1], idv.SideBack))}}
	if code, loc, body := h.do("POST", "/verify/document_capture", form); code != http.StatusSeeOther {
		t.Fatalf("submit: %d %s %.300s", code, loc, body)
	}
	args := h.lastDocumentArgs()
	if args.ImageEncryption != idv.ImageEncryptionHPKE || args.EncryptionKey != nil || args.Front.IV != nil || args.Back.IV != nil ||
		args.CaptureID != id[1] || args.Front.URL != form.Get("front_image_url") {
		t.Fatalf("job arguments %v", args)
	}
}

// The URL checks of form_key hold under hpke; and with no key yet (no
// worker has made one) the page is an error, not a page that cannot seal.
func TestDocumentHPKERefusals(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 65)
	for _, tc := range []struct {
		name   string
		change func(f url.Values, id string)
	}{
		{"URL of another capture", func(f url.Values, _ string) {
			f.Set("back_image_url", fake.ObjectURLPrefix+idv.DocumentImageKey(idv.NewID(), idv.SideBack))
		}},
		{"sides swapped", func(f url.Values, _ string) {
			f["front_image_url"], f["back_image_url"] = f["back_image_url"], f["front_image_url"]
		}},
		{"URL missing", func(f url.Values, _ string) { f.Del("front_image_url") }},
		{"capture id of another page", func(f url.Values, _ string) { f.Set("capture_id", idv.NewID()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHPKEHarness(t, &staticImageKey{key: imagekey.PublicKey{ID: "k", Raw: raw}})
			id := h.openCapture()
			f := url.Values{"capture_id": {id},
				"front_image_url": {fake.ObjectURL(idv.DocumentImageKey(id, idv.SideFront))},
				"back_image_url":  {fake.ObjectURL(idv.DocumentImageKey(id, idv.SideBack))}}
			tc.change(f, id)
			if code, _, body := h.do("POST", "/verify/document_capture", f); code != http.StatusUnprocessableEntity {
				t.Fatalf("%d %.300s", code, body)
			}
			if n := len(h.queue.Jobs()); n != 0 {
				t.Fatalf("%d jobs enqueued", n)
			}
		})
	}
	h := newHPKEHarness(t, &staticImageKey{err: idv.Errorf(idv.EUNAVAILABLE, "no image key yet")})
	if code, _, _ := h.do("GET", "/verify/document_capture", nil); code < 500 {
		t.Fatalf("capture page with no image key: %d", code)
	}
}
