package local_test

import (
	"testing"

	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/objects/objectstest"
)

// FuzzKeyFromURL checks the local store's URL validation: whatever it
// accepts is a clean key whose re-issued URL has the same scheme, host and
// path (no scheme and no host: the store issues path-only URLs). Seeds are
// in testdata/fuzz/FuzzKeyFromURL; run longer with
// go test -run '^$' -fuzz FuzzKeyFromURL ./objects/local/
func FuzzKeyFromURL(f *testing.F) {
	st, err := local.New(local.Config{Dir: f.TempDir(), Secret: secret})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("/uploads/document-capture/AAAAAAAAAAAAAAAAAAAAAA/front?expires=1&sig=x")
	f.Add("/uploads/document-capture/x/../y/front")
	f.Add("//evil.example/uploads/document-capture/AAAAAAAAAAAAAAAAAAAAAA/front")
	f.Add("http://127.0.0.1:8080/uploads/document-capture/AAAAAAAAAAAAAAAAAAAAAA/front?expires=1&sig=x")
	f.Fuzz(func(t *testing.T, raw string) {
		objectstest.CheckKeyFromURL(t, st, raw)
	})
}
