package objects_test

import (
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/objects"
)

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{
		idv.DocumentImageKey(idv.NewID(), idv.SideFront), "a", "a.b", ".a", "a_b-c/D9", "a/.b/c",
		strings.Repeat("a", objects.MaxKeyLen),
	} {
		if err := objects.ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q): %v", k, err)
		}
	}
	for _, k := range []string{
		"", "/", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/../b", "a..b", "a/./b", "./a",
		"a b", "a%2Fb", "a\\b", "a?b", "a#b", "a:b", "a~b", "é", "a\x00b", "a\nb",
		strings.Repeat("a", objects.MaxKeyLen+1),
	} {
		if err := objects.ValidKey(k); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("ValidKey(%q): %v, want EINVALID", k, err)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	o, err := objects.ParseOrigin("https://h.example:8443/bucket/probe?X-Amz-Signature=1", "probe")
	if err != nil {
		t.Fatal(err)
	}
	if o != (objects.Origin{Scheme: "https", Host: "h.example:8443", Prefix: "/bucket/"}) {
		t.Errorf("ParseOrigin = %+v", o)
	}
	if got := o.URL("a/b"); got != "https://h.example:8443/bucket/a/b" {
		t.Errorf("URL = %s", got)
	}
	for _, u := range []string{"ftp://h/probe", "http:///probe", "http://u@h/probe", "http://h/probe/x", "http://h/xprobe", "h/probe"} {
		if _, err := objects.ParseOrigin(u, "probe"); err == nil {
			t.Errorf("ParseOrigin(%q) accepted", u)
		}
	}
}

// TestOriginKeyFromURL covers what the conformance suite cannot derive from
// an issued URL: an origin with a deeper prefix.
func TestOriginKeyFromURL(t *testing.T) {
	t.Parallel()
	o := objects.Origin{Scheme: "http", Host: "127.0.0.1:7070", Prefix: "/a/b/"}
	if k, err := o.KeyFromURL("http://127.0.0.1:7070/a/b/c/d?x"); err != nil || k != "c/d" {
		t.Errorf("KeyFromURL = %q, %v", k, err)
	}
	for _, u := range []string{
		"http://127.0.0.1:7070/a/c/d", "http://127.0.0.1:7070/a/b", "http://127.0.0.1:7070/a/b/",
		"http://127.0.0.1:7070/a/b/../b/c", "http://127.0.0.1:7070/a%2Fb/c", "http://127.0.0.1:7070/a/b/c/d#",
	} {
		if k, err := o.KeyFromURL(u); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("KeyFromURL(%q) = %q, %v; want EINVALID", u, k, err)
		}
	}
}
