package idv_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors/sim"
)

// TestDocumentErrorMessage checks that every document code, whether the
// document simulator, a vendor adapter or the document job produces it,
// has a message of its own, and that the messages read as sentences.
func TestDocumentErrorMessage(t *testing.T) {
	t.Parallel()
	general := idv.DocumentErrorMessage("no_such_code")
	if general == "" || idv.DocumentErrorMessage("") != general {
		t.Fatalf("general message %q; an empty code must get it too", general)
	}
	codes := idv.DocumentErrorCodes()
	// The document job's own codes (jobs/document.go).
	for _, c := range []string{"image_missing", "image_unreadable", "image_too_large", "image_url_invalid"} {
		if !slices.Contains(codes, c) {
			t.Errorf("DocumentErrorCodes lacks %q", c)
		}
	}
	for _, c := range sim.DocumentCodes() {
		if !slices.Contains(codes, c) {
			t.Errorf("the simulator answers %q, which DocumentErrorCodes lacks", c)
		}
	}
	seen := map[string]string{}
	for _, c := range codes {
		t.Run(c, func(t *testing.T) {
			m := idv.DocumentErrorMessage(c)
			switch {
			case m == "":
				t.Fatal("empty message")
			case m == general:
				t.Error("falls back to the general message")
			case !strings.HasSuffix(m, "."):
				t.Errorf("%q does not end a sentence", m)
			case strings.Contains(m, c) || strings.Contains(m, "_"):
				t.Errorf("%q shows a code", m)
			case len(m) > 240:
				t.Errorf("%q is too long for a short note", m)
			}
		})
		if other, dup := seen[idv.DocumentErrorMessage(c)]; dup {
			t.Errorf("%s and %s share a message", c, other)
		}
		seen[idv.DocumentErrorMessage(c)] = c
	}
}

// TestDocumentErrorMessageBarcode checks the example the messages are
// written after: an unreadable barcode asks for a new photo of the back in
// good light.
func TestDocumentErrorMessageBarcode(t *testing.T) {
	t.Parallel()
	m := strings.ToLower(idv.DocumentErrorMessage(idv.DocCodeBarcodeUnreadable))
	for _, want := range []string{"barcode", "new photo", "back", "good light"} {
		if !strings.Contains(m, want) {
			t.Errorf("%q lacks %q", m, want)
		}
	}
}
