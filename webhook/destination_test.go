package webhook

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/idv-dev/idv"
)

// fakeResolver answers from a table; other names do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	names := fakeResolver{
		"rp.example":       {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"mixed.example":    {"93.184.216.34", "10.0.0.5"},
		"internal.example": {"192.168.1.10"},
		"metadata.example": {"169.254.169.254"},
		"v6local.example":  {"::1"},
		"empty.example":    {},
	}
	const (
		ok          = ""
		refused     = idv.EINVALID
		unavailable = idv.EUNAVAILABLE
	)
	for _, tc := range []struct {
		url      string
		insecure bool
		want     string
	}{
		// Public destinations.
		{"https://8.8.8.8/hook", false, ok},
		{"https://8.8.8.8:8443/hook?x=1", false, ok},
		{"https://[2606:4700:4700::1111]/hook", false, ok},
		{"https://rp.example/hook", false, ok},
		{"https://RP.example./hook", false, ok},
		{"https://100.63.255.255/", false, ok},     // just below CGNAT
		{"https://100.128.0.0/", false, ok},        // just above CGNAT
		{"https://172.15.255.255/", false, ok},     // just below 172.16/12
		{"https://172.32.0.0/", false, ok},         // just above 172.16/12
		{"https://[64:ff9b::808:808]/", false, ok}, // NAT64 of 8.8.8.8
		{"https://[2002:808:808::1]/", false, ok},  // 6to4 of 8.8.8.8
		{"https://[::ffff:8.8.8.8]/", false, ok},   // IPv4-mapped public

		// Not https, not a URL, credentials.
		{"http://8.8.8.8/hook", false, refused},
		{"ftp://8.8.8.8/", false, refused},
		{"8.8.8.8/hook", false, refused},
		{"https:///hook", false, refused},
		{"https://user:pass@8.8.8.8/", false, refused},
		{"://bad", false, refused},

		// IPv4 that is not public.
		{"https://127.0.0.1/", false, refused},
		{"https://127.255.255.254/", false, refused},
		{"https://10.1.2.3/", false, refused},
		{"https://172.16.0.1/", false, refused},
		{"https://172.31.255.255/", false, refused},
		{"https://192.168.0.1/", false, refused},
		{"https://169.254.169.254/latest/meta-data/", false, refused},
		{"https://0.0.0.0/", false, refused},
		{"https://0.1.2.3/", false, refused},
		{"https://100.64.0.1/", false, refused},
		{"https://100.127.255.255/", false, refused},
		{"https://192.0.0.8/", false, refused},
		{"https://192.0.2.1/", false, refused},
		{"https://198.18.0.1/", false, refused},
		{"https://198.51.100.1/", false, refused},
		{"https://203.0.113.1/", false, refused},
		{"https://224.0.0.1/", false, refused},
		{"https://239.255.255.250/", false, refused},
		{"https://240.0.0.1/", false, refused},
		{"https://255.255.255.255/", false, refused},

		// IPv4 written as some resolvers (not Go's) read it.
		{"https://127.1/", false, refused},
		{"https://2130706433/", false, refused},
		{"https://0x7f000001/", false, refused},
		{"https://0x7f.0.0.1/", false, refused},
		{"https://0177.0.0.1/", false, refused},
		{"https://017700000001/", false, refused},
		{"https://10.1/", false, refused},

		// IPv6 that is not public, or carries IPv4 that is not.
		{"https://[::1]/", false, refused},
		{"https://[::]/", false, refused},
		{"https://[fe80::1]/", false, refused},
		{"https://[fe80::1%25eth0]/", false, refused},
		{"https://[fc00::1]/", false, refused},
		{"https://[fd12:3456:789a::1]/", false, refused},
		{"https://[fec0::1]/", false, refused},
		{"https://[ff02::1]/", false, refused},
		{"https://[ff0e::1]/", false, refused},
		{"https://[2001:db8::1]/", false, refused},
		{"https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", false, refused}, // Teredo
		{"https://[100::1]/", false, refused},
		{"https://[::ffff:127.0.0.1]/", false, refused},
		{"https://[::ffff:7f00:1]/", false, refused},
		{"https://[::ffff:10.0.0.1]/", false, refused},
		{"https://[::ffff:169.254.169.254]/", false, refused},
		{"https://[::ffff:0:7f00:1]/", false, refused}, // IPv4-translated
		{"https://[::127.0.0.1]/", false, refused},     // IPv4-compatible
		{"https://[64:ff9b::7f00:1]/", false, refused}, // NAT64 of 127.0.0.1
		{"https://[64:ff9b::a00:1]/", false, refused},  // NAT64 of 10.0.0.1
		{"https://[64:ff9b:1::1]/", false, refused},
		{"https://[2002:7f00:1::1]/", false, refused},    // 6to4 of 127.0.0.1
		{"https://[2002:a9fe:a9fe::1]/", false, refused}, // 6to4 of 169.254.169.254

		// Names.
		{"https://localhost/", false, refused},
		{"https://LOCALHOST./", false, refused},
		{"https://api.localhost/", false, refused},
		{"https://mixed.example/", false, refused},
		{"https://internal.example/", false, refused},
		{"https://metadata.example/", false, refused},
		{"https://v6local.example/", false, refused},
		{"https://empty.example/", false, unavailable},
		{"https://unknown.example/", false, unavailable},

		// allowInsecure: http and local hosts, still a URL with a host.
		{"http://127.0.0.1:8080/hook", true, ok},
		{"https://localhost/hook", true, ok},
		{"http://[::1]:80/", true, ok},
		{"ftp://127.0.0.1/", true, refused},
		{"http:///hook", true, refused},
		{"http://u:p@127.0.0.1/", true, refused},
	} {
		err := checkURL(t.Context(), names, tc.url, tc.insecure)
		if got := idv.ErrorCode(err); got != tc.want {
			t.Errorf("checkURL(%q, insecure=%t) = %v, want code %q", tc.url, tc.insecure, err, tc.want)
		}
	}
}

// CheckURL itself, with the system resolver: literals need no DNS, and
// localhost is refused by name.
func TestCheckURLSystemResolver(t *testing.T) {
	t.Parallel()
	for u, want := range map[string]string{
		"https://1.1.1.1/":   "",
		"https://127.0.0.1/": idv.EINVALID,
		"https://localhost/": idv.EINVALID,
		"http://1.1.1.1/":    idv.EINVALID,
	} {
		if got := idv.ErrorCode(CheckURL(u, false)); got != want {
			t.Errorf("CheckURL(%q) = %q, want %q", u, got, want)
		}
	}
}

func TestDialPublicOnly(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]error{
		"8.8.8.8:443":            nil,
		"[2606:4700::1111]:443":  nil,
		"127.0.0.1:443":          errNotPublic,
		"[::1]:443":              errNotPublic,
		"10.0.0.1:443":           errNotPublic,
		"[::ffff:192.168.0.1]:1": errNotPublic,
		"not an address":         errNotPublic,
	} {
		if got := dialPublicOnly("tcp", addr, nil); got != want {
			t.Errorf("dialPublicOnly(%s) = %v, want %v", addr, got, want)
		}
	}
}
