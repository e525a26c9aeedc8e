package testenv

import (
	"net"
	"testing"
)

// A closed address refuses connections, and no server can take its port
// while the test runs.
func TestClosedAddrRefuses(t *testing.T) {
	t.Parallel()
	a := ClosedAddr(t)
	if c, err := net.Dial("tcp", a); err == nil {
		c.Close()
		t.Fatal("dial succeeded")
	} else {
		t.Log(err)
	}
	if l, err := net.Listen("tcp", a); err == nil {
		l.Close()
		t.Fatal("listen succeeded")
	} else {
		t.Log(err)
	}
}
