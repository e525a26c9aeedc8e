package local_test

import (
	"testing"

	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/objects/objectstest"
)

// FuzzKeyFromURL checks the local store's URL validation: whatever it
// accepts is a clean key whose re-issued URL has the same scheme, host and
// path. Seeds are in testdata/fuzz/FuzzKeyFromURL; run longer with
// go test -run '^$' -fuzz FuzzKeyFromURL ./objects/local/
func FuzzKeyFromURL(f *testing.F) {
	st, err := local.New(local.Config{Dir: f.TempDir(), BaseURL: "http://127.0.0.1:8080", Secret: secret})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("http://127.0.0.1:8080/uploads/document-capture/AAAAAAAAAAAAAAAAAAAAAA/front?expires=1&sig=x")
	f.Add("http://127.0.0.1:8080/uploads/document-capture/x/../y/front")
	f.Fuzz(func(t *testing.T, raw string) {
		objectstest.CheckKeyFromURL(t, st, raw)
	})
}
