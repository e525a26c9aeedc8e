package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server for one test, which the test may
// stop and start again on the same port (fault tests). The shared Redis of
// RedisAddr must never be restarted: other tests use it. It keeps nothing on
// disk (--save "" --appendonly no), so a restart loses every key, as a
// restarted cache-only Redis does.
type RedisServer struct {
	Addr string // 127.0.0.1:PORT

	t    testing.TB
	bin  string
	dir  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedisServer starts Debian's redis-server on a free loopback port and
// waits until it answers. It is stopped when the test ends.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server is not installed (apt-get install redis-server): %v", err)
	}
	port := freePort(t)
	r := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, bin: bin, dir: t.TempDir(), port: port}
	t.Cleanup(r.kill)
	r.Start(t)
	return r
}

// Start starts the server (again) and waits until it answers PING.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		t.Fatal("testenv: redis-server is already running")
	}
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	r.cmd, r.done = cmd, done

	client := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			t.Fatalf("testenv: redis-server exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: redis-server on %s did not answer: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is coming up
	}
}

// Stop kills the server (SIGKILL: an abrupt outage) and waits until it is
// gone, so the port refuses connections.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		t.Fatal("testenv: redis-server is not running")
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func (r *RedisServer) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		<-r.done
		r.cmd = nil
	}
}
