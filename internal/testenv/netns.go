package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Network is a set of hosts for one test: network namespaces joined by
// veth pairs to a bridge, which also has an address on this machine's side
// (the first of the subnet), so the test reaches every host and servers it
// runs outside the namespaces can listen on that address. Everything is
// created by NewNetwork and Host and removed when the test ends, and what a
// run that died left behind under the same name is removed first.
//
// Addresses come from the /24 the caller names, which must be one no
// other test or helper uses. Nothing routes out of it.
type Network struct {
	// Name prefixes the bridge, the namespaces and the host-side veths.
	Name string
	// Subnet is the first three octets, e.g. "10.199.1".
	Subnet string
	// HostIP is this machine's address on the bridge (Subnet + ".1").
	HostIP string

	bridge string
	mu     sync.Mutex
	hosts  []*Host
}

// Host is one network namespace on a Network.
type Host struct {
	Name  string // short name, e.g. "web1"
	IP    string
	Netns string // the namespace, for ip netns exec
	veth  string // the host-side end, on the bridge
}

// NewNetwork creates a bridge named after name (at most 8 characters: the
// host-side veths are name + "-" + the host's name, within Linux's 15) with
// HostIP on it. It skips the test when it cannot make namespaces (not root,
// no ip command): CI runs as root, so the test runs there.
func NewNetwork(t testing.TB, name, subnet string) *Network {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testenv: network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("testenv: no ip command (apt-get install iproute2)")
	}
	if len(name) > 8 {
		t.Fatalf("testenv: network name %q is longer than 8 characters", name)
	}
	n := &Network{Name: name, Subnet: subnet, HostIP: subnet + ".1", bridge: name + "-br"}
	n.removeLeftovers()
	t.Cleanup(n.remove)
	mustIP(t, "link", "add", n.bridge, "type", "bridge")
	mustIP(t, "addr", "add", n.HostIP+"/24", "dev", n.bridge)
	mustIP(t, "link", "set", n.bridge, "up")
	return n
}

// Host creates namespace name with address Subnet.last on the bridge, its
// loopback up.
func (n *Network) Host(t testing.TB, name string, last int) *Host {
	t.Helper()
	h := &Host{Name: name, IP: fmt.Sprintf("%s.%d", n.Subnet, last), Netns: n.Name + "-" + name, veth: n.Name + "-" + name}
	if len(h.veth) > 15 {
		t.Fatalf("testenv: interface name %q is over 15 characters", h.veth)
	}
	n.mu.Lock()
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()
	mustIP(t, "netns", "add", h.Netns)
	mustIP(t, "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.Netns)
	mustIP(t, "link", "set", h.veth, "master", n.bridge, "up")
	mustIP(t, "-n", h.Netns, "link", "set", "lo", "up")
	mustIP(t, "-n", h.Netns, "addr", "add", h.IP+"/24", "dev", "eth0")
	mustIP(t, "-n", h.Netns, "link", "set", "eth0", "up")
	return h
}

// Command runs name inside the host's network namespace, under a host
// name of its own (Name, in a UTS namespace), as on a separate machine:
// what names itself by host name (River's client ids) tells the hosts
// apart. The process keeps its pid through the wrapping (each step execs
// the next), so signals reach it.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Netns, "unshare", "--uts", "sh", "-c",
		"echo " + h.Name + ` > /proc/sys/kernel/hostname && exec "$0" "$@"`, name}, args...)...)
}

// SetLink pulls the host's cable (up false: its bridge port goes down, the
// host loses carrier and every packet to and from it is dropped, as a
// switch port failing does) or plugs it back in.
func (h *Host) SetLink(t testing.TB, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	mustIP(t, "link", "set", h.veth, state)
}

// remove deletes the namespaces (their veths go with them) and the bridge.
func (n *Network) remove() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range n.hosts {
		_ = exec.Command("ip", "netns", "del", h.Netns).Run()
		_ = exec.Command("ip", "link", "del", h.veth).Run()
	}
	_ = exec.Command("ip", "link", "del", n.bridge).Run()
}

// removeLeftovers deletes what a run that died left under this network's
// name: namespaces, veths and the bridge.
func (n *Network) removeLeftovers() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], n.Name+"-") {
			_ = exec.Command("ip", "netns", "del", f[0]).Run()
		}
	}
	out, _ = exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(dev, n.Name+"-") {
			_ = exec.Command("ip", "link", "del", dev).Run()
		}
	}
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
