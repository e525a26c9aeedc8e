// Package versitygw starts versitygw (github.com/versity/versitygw, an S3
// gateway over a folder: SigV4, pre-signed URLs and bucket CORS like AWS) on
// a free loopback port, for the tests (testenv.S3) and for `idv bench` when
// no bucket is configured: one starter for both. It imports no testing
// package, so the idv binary can use it.
package versitygw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Version is the versitygw release idv is tested against.
const Version = "v1.8.0"

// ErrNotInstalled is returned by Start when versitygw is neither on PATH nor
// in $(go env GOPATH)/bin.
var ErrNotInstalled = errors.New("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@" + Version + "; .ci/services does)")

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT; address buckets path-style
	Region    string
	AccessKey string
	SecretKey string
	Version   string // as the binary reports it
	LogPath   string // its output

	stop func()
}

// Start starts versitygw over dir/data with random credentials, its output
// in dir/versitygw.log, and waits (at most 15 s) until it answers. dir must
// exist; the caller removes it after Stop.
func Start(ctx context.Context, dir string) (*Server, error) {
	return StartOn(ctx, dir, "127.0.0.1")
}

// StartOn is Start listening on a free port of host, an address of this
// machine (a test's bridge, say) rather than loopback.
func StartOn(ctx context.Context, dir, host string) (*Server, error) {
	bin := Path()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr(host)
	if err != nil {
		return nil, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	s := &Server{
		Endpoint:  "http://" + addr,
		Region:    "us-east-1",
		AccessKey: "AK" + strings.ToUpper(hex.EncodeToString(id[:])) + "TEST",
		SecretKey: rand.Text() + rand.Text()[:14],
		Version:   binaryVersion(bin),
		LogPath:   filepath.Join(dir, "versitygw.log"),
	}
	out, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "--health", "/health", "--quiet", "posix", data)
	// Credentials go in flags, not the environment, so a developer's
	// ROOT_ACCESS_KEY and friends cannot leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = out.Close()
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-exited:
			s.Stop()
			b, _ := os.ReadFile(s.LogPath)
			return nil, fmt.Errorf("versitygw exited at start:\n%s", b)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling a port that is coming up
		}
		if time.Now().After(deadline) {
			s.Stop()
			b, _ := os.ReadFile(s.LogPath)
			return nil, fmt.Errorf("versitygw did not answer on %s: %v\n%s", s.Endpoint, err, b)
		}
	}
}

// Stop interrupts versitygw and waits (at most 10 s, then kills it) until
// it has exited.
func (s *Server) Stop() { s.stop() }

// Path finds versitygw on PATH or in $(go env GOPATH)/bin, where go install
// puts it; "" when it is in neither.
func Path() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = filepath.SplitList(gp)
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = filepath.SplitList(strings.TrimSpace(string(out)))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// binaryVersion is what `versitygw --version` names, for reports.
func binaryVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "v") && strings.Count(f, ".") >= 2 {
				return strings.TrimRight(f, ",")
			}
		}
	}
	return "(version unknown)"
}

// freeAddr is an address of host whose port was free a moment ago.
func freeAddr(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
