package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Proxy is a real tinyproxy egress proxy started for one test.
type Proxy struct {
	URL     string // http://127.0.0.1:PORT
	LogPath string
}

// Log returns what the proxy has logged so far.
func (p *Proxy) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatalf("testenv: read proxy log: %v", err)
	}
	return string(b)
}

// Tinyproxy starts Debian's tinyproxy on a free loopback port. Only the
// hosts in allow (exact host names or IPs) may be reached through it; every
// other host is refused with 403, as an egress allow-list does. The proxy
// stops when the test ends. .ci/services installs tinyproxy.
func Tinyproxy(t testing.TB, allow ...string) *Proxy {
	t.Helper()
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		t.Fatalf("testenv: tinyproxy is not installed (apt-get install tinyproxy; .ci/services does): %v", err)
	}
	dir := t.TempDir()
	var filter strings.Builder
	for _, h := range allow {
		fmt.Fprintf(&filter, "^%s$\n", regexp.QuoteMeta(h))
	}
	if err := os.WriteFile(filepath.Join(dir, "filter"), []byte(filter.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := &Proxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), LogPath: filepath.Join(dir, "tinyproxy.log")}
	conf := fmt.Sprintf(`Port %d
Listen 127.0.0.1
Timeout 30
LogFile %q
LogLevel Connect
MaxClients 200
Allow 127.0.0.1
Filter %q
FilterType ere
FilterDefaultDeny Yes
DisableViaHeader Yes
`, port, p.LogPath, filepath.Join(dir, "filter"))
	confPath := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", confPath)
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start tinyproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "stdout"))
			t.Fatalf("testenv: tinyproxy did not start: %v\n%s", err, b)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is coming up
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
