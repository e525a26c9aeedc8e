package testenv

import (
	"net"
	"strconv"
	"testing"
)

// ClosedAddr returns a loopback host:port where nothing listens, so a client
// pointed at it is refused at once: a component that is down, without a
// timeout to wait out.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb)))
}
