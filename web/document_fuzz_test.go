package web

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

// FuzzParseDocumentForm: whatever the capture page's POST carries, parsing
// never panics, and it accepts a form only when each URL is exactly the one
// issued for its side of this session's capture, the key is 32 bytes and the
// IVs 12 bytes and different from each other. A refusal names only the form's fields and never echoes a value.
func FuzzParseDocumentForm(f *testing.F) {
	const captureID = "Xq3v9Yt2WZb8kQm1rT5uLg"
	store := &fake.ObjectStore{}
	good := uploadedForm(captureID).Encode()
	f.Add(good)
	f.Add(strings.Replace(good, "front%3F", "back%3F", 1))
	f.Add(strings.Replace(good, "objects.test", "attacker.example", 1))
	f.Add(strings.Replace(good, "document-capture%2F"+captureID, "document-capture%2F..%2F"+captureID, 1))
	f.Add("capture_id=" + captureID + "&encryption_key=%3D%3D&front_image_iv=AAAA&back_image_url=https%3A%2F%2Fobjects.test%2Fbucket%2F")
	f.Add("capture_id=&encryption_key=")
	f.Add("%zz=%zz")
	same := uploadedForm(captureID)
	same.Set("back_image_iv", same.Get("front_image_iv"))
	f.Add(same.Encode())
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return // the handler answers "the form could not be read"
		}
		args, fe := parseDocumentForm(form, captureID, store)
		if fe != nil {
			for field, msg := range fe {
				if field != string(idv.SideFront) && field != string(idv.SideBack) {
					t.Fatalf("error on unknown field %q", field)
				}
				for _, vs := range form {
					for _, v := range vs {
						if len(v) >= 8 && strings.Contains(msg, v) {
							t.Fatalf("message %q echoes a submitted value", msg)
						}
					}
				}
			}
			if args.CaptureID != "" || args.EncryptionKey != nil {
				t.Fatal("arguments returned with errors")
			}
			return
		}
		if args.CaptureID != captureID || len(args.EncryptionKey) != 32 || len(args.Front.IV) != 12 || len(args.Back.IV) != 12 {
			t.Fatalf("accepted malformed arguments: %d/%d/%d", len(args.EncryptionKey), len(args.Front.IV), len(args.Back.IV))
		}
		if bytes.Equal(args.Front.IV, args.Back.IV) {
			t.Fatal("accepted one IV for both sides")
		}
		for _, side := range idv.Sides {
			u := args.Image(side).URL
			key, err := store.KeyFromURL(u)
			if err != nil || key != idv.DocumentImageKey(captureID, side) {
				t.Fatalf("accepted a %s URL that was not issued: %q", side, u)
			}
		}
		if bytes.Equal(args.Front.IV, nil) || args.ServerSealed {
			t.Fatal("accepted form marked server-sealed")
		}
	})
}

// FuzzHPKEDocumentForm: the hpke form reader takes only the capture id and
// the URLs it issued, and never returns a key or an IV, whatever is posted.
func FuzzHPKEDocumentForm(f *testing.F) {
	store := &fake.ObjectStore{}
	const captureID = "capture-1"
	good := url.Values{"capture_id": {captureID},
		"front_image_url": {fake.ObjectURL(idv.DocumentImageKey(captureID, idv.SideFront))},
		"back_image_url":  {fake.ObjectURL(idv.DocumentImageKey(captureID, idv.SideBack))}}
	f.Add(good.Encode())
	good.Set("encryption_key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Add(good.Encode())
	f.Add("capture_id=capture-1&front_image_url=x")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		args, fe := parseHPKEDocumentForm(form, captureID, store)
		if args.EncryptionKey != nil || args.Front.IV != nil || args.Back.IV != nil {
			t.Fatal("key material in hpke arguments")
		}
		if fe != nil {
			if args.CaptureID != "" {
				t.Fatal("arguments returned with errors")
			}
			return
		}
		if args.CaptureID != captureID || args.ImageEncryption != idv.ImageEncryptionHPKE || args.ServerSealed {
			t.Fatalf("accepted %v", args)
		}
		for _, side := range idv.Sides {
			key, err := store.KeyFromURL(args.Image(side).URL)
			if err != nil || key != idv.DocumentImageKey(captureID, side) {
				t.Fatalf("accepted a %s URL that was not issued", side)
			}
		}
	})
}
