package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/idv-dev/idv"
)

// resolveTimeout bounds CheckURL's DNS lookup.
const resolveTimeout = 5 * time.Second

// resolver is the part of *net.Resolver CheckURL uses (tests replace it).
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL reports whether events may be sent to rawURL: an absolute https
// URL without credentials, whose host is a public address or a name every
// address of which is public. Refused: loopback, private (RFC 1918, IPv6
// ULA), link-local, unspecified, multicast, broadcast, shared (CGNAT
// 100.64.0.0/10), documentation, benchmarking and reserved ranges, IPv4
// written any way but dotted-decimal (127.1, 2130706433, 0x7f.0.0.1, which
// some resolvers read as addresses), "localhost", and IPv6 forms that embed
// a refused IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4).
//
// With allowInsecure (tests, `idv dev`) any http or https URL with a host
// passes and nothing is resolved.
//
// A refused URL is an EINVALID error (it will not get better by retrying);
// a host that does not resolve now is EUNAVAILABLE. The name is resolved
// here with the local resolver, and again when the request connects: the
// client of NewHTTPClient refuses a non-public address at that point too,
// so a name that changes its answer in between (DNS rebinding) gains
// nothing. Through an egress proxy the proxy connects, and its allow-list
// is the control there.
func CheckURL(rawURL string, allowInsecure bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	return checkURL(ctx, net.DefaultResolver, rawURL, allowInsecure)
}

func checkURL(ctx context.Context, r resolver, rawURL string, allowInsecure bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return idv.Errorf(idv.EINVALID, "webhook URL does not parse")
	}
	switch {
	case u.Scheme != "https" && !(allowInsecure && u.Scheme == "http"):
		return idv.Errorf(idv.EINVALID, "webhook URL must be https")
	case u.Hostname() == "":
		return idv.Errorf(idv.EINVALID, "webhook URL needs a host")
	case u.User != nil:
		return idv.Errorf(idv.EINVALID, "webhook URL must not carry credentials")
	case allowInsecure:
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if addr, err := netip.ParseAddr(host); err == nil {
		if !isPublic(addr) {
			return idv.Errorf(idv.EINVALID, "webhook URL's address %s is not public", host)
		}
		return nil
	}
	if numericHost(host) {
		return idv.Errorf(idv.EINVALID, "webhook URL's host %s looks like an address in a non-standard form", host)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return idv.Errorf(idv.EINVALID, "webhook URL's host %s is local", host)
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return idv.Errorf(idv.EUNAVAILABLE, "webhook URL's host %s does not resolve", host)
	}
	for _, a := range addrs {
		if !isPublic(a) {
			return idv.Errorf(idv.EINVALID, "webhook URL's host %s resolves to %s, which is not public", host, a)
		}
	}
	return nil
}

// numericHost reports a host whose last label is a number or starts with
// 0x: no DNS name has such a top-level label, but inet_aton-style parsers
// (libc, some proxies) read "127.1" or "0x7f000001" as addresses.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if strings.HasPrefix(last, "0x") {
		return true
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// refused are the special-purpose ranges (IANA registries) that
// IsGlobalUnicast and IsPrivate let through, or that are listed for
// clarity.
var refused = prefixes(
	"0.0.0.0/8",       // "this network"
	"100.64.0.0/10",   // shared address space (CGNAT)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"240.0.0.0/4",     // reserved, and broadcast
	"::/96",           // IPv4-compatible (deprecated), ::, ::1
	"::ffff:0:0:0/96", // IPv4-translated (SIIT)
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard-only
	"2001::/23",       // IETF protocol assignments, Teredo among them
	"2001:db8::/32",   // documentation
	"3fff::/20",       // documentation
	"5f00::/16",       // SRv6 SIDs
	"fec0::/10",       // site-local (deprecated)
)

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// isPublic reports whether a is a globally routable unicast address an RP's
// server may have. IPv6 forms that carry an IPv4 address are judged by it.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range refused {
		if p.Contains(a) {
			return false
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return isPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}

// errNotPublic is the dial-time refusal of a non-public address.
var errNotPublic = errors.New("webhook destination address is not public")

// dialPublicOnly is a net.Dialer Control: it runs for each address a name
// resolved to, just before connecting, and refuses non-public ones.
func dialPublicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !isPublic(ap.Addr()) {
		return errNotPublic
	}
	return nil
}
