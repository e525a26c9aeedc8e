package main

// The real binary as separate processes, for the end-to-end and fault
// tests: built once per run, started with an environment, its output
// captured and the URL it listens on read from its log.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/idv once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "idv")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running idv process whose output is captured.
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	url    chan string
	opsURL chan string // a web process's operations listener

	pw      *io.PipeWriter // the process's stdout, relayed line by line into out
	relayed chan struct{}  // closed when every line of stdout is in out
}

// wait waits for the process to exit and for its last lines to reach out:
// cmd.Wait returns once the pipe is drained, before the relay has written
// what it read last.
func (p *proc) wait() error {
	err := p.cmd.Wait()
	p.pw.Close()
	<-p.relayed
	return err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`"msg":"listening","role":"(\w+)","url":"([^"]+)"`)

// start runs the binary with env and waits until it logs the URL of role.
func start(t *testing.T, env []string, role string, args ...string) *proc {
	t.Helper()
	if len(args) > 0 && args[0] == "web" {
		// Its own operations port: tests run many web processes at once.
		args = append(args, "--ops-addr", "127.0.0.1:0")
	}
	if len(args) > 0 && args[0] == "dev" {
		// The test reads the "listening" line, an info line that idv dev
		// leaves out by default.
		args = append(args, "--log-level", "info")
	}
	return startCmd(t, exec.Command(binary(t), args...), env, role)
}

// startIn is start inside a network namespace of a test's network (no
// extra flags: the caller names every address).
func startIn(t *testing.T, h *testenv.Host, env []string, role string, args ...string) *proc {
	t.Helper()
	return startCmd(t, h.Command(binary(t), args...), env, role)
}

// startCmd runs cmd (the binary, perhaps wrapped) with env and waits until
// it logs the URL of role.
func startCmd(t *testing.T, cmd *exec.Cmd, env []string, role string) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, out: &syncBuffer{}, url: make(chan string, 1), opsURL: make(chan string, 1), pw: pw, relayed: make(chan struct{})}
	cmd.Stdout = pw
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.relayed)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.out.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil && m[1] == role {
				select {
				case p.url <- m[2]:
				default:
				}
			} else if m != nil && m[1] == "ops" {
				select {
				case p.opsURL <- m[2]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		pw.Close()
	})
	return p
}

// logs reports whether the process logs substr within 15 s: a line
// reaches out through a relay, a moment after the process wrote it.
func (p *proc) logs(substr string) bool {
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(p.out.String(), substr); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling the relayed output
	}
	return true
}

// waitOpsURL returns the operations listener's URL of a web process
// (/metrics and the health endpoints).
func (p *proc) waitOpsURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.opsURL:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("process did not start its ops listener; output:\n%s", p.out.String())
		return ""
	}
}

func (p *proc) waitURL(t *testing.T) string {
	t.Helper()
	select {
	case u := <-p.url:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("process did not start listening; output:\n%s", p.out.String())
		return ""
	}
}

func run1(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("idv %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// person is one browser: a cookie jar, no redirects followed automatically.
