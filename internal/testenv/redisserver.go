package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	Addr string // HOST:PORT, 127.0.0.1:PORT unless RedisOptions.Host says otherwise

	t     testing.TB
	bin   string
	dir   string
	opts  RedisOptions
	mu    sync.Mutex
	admin *redis.Client // client()
	cmd   *exec.Cmd
	done  chan struct{}
}

// RedisOptions shape a private redis-server.
type RedisOptions struct {
	// Host is the address it binds and is dialled at: 127.0.0.1 when
	// empty.
	Host string
	// Port is its port: a free loopback port when zero.
	Port int
	// Netns, when set, is the network namespace it runs in (ip netns
	// exec), where Host must be an address of that namespace.
	Netns string
	// Args are more redis-server arguments (--replicaof, --cluster-enabled).
	Args []string
	// Sentinel runs it as a Sentinel (redis-server sentinel.conf
	// --sentinel) with these lines in its configuration file, which the
	// Sentinel rewrites as it learns.
	Sentinel []string
}

// StartRedisServer starts Debian's redis-server on a free loopback port and
// waits until it answers. It is stopped when the test ends.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	return StartRedisServerWith(t, RedisOptions{})
}

// StartRedisServerWith starts redis-server as o says and waits until it
// answers. It is stopped when the test ends.
func StartRedisServerWith(t testing.TB, o RedisOptions) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server is not installed (apt-get install redis-server): %v", err)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = freePort(t)
	}
	r := &RedisServer{Addr: net.JoinHostPort(o.Host, fmt.Sprint(o.Port)), t: t, bin: bin, dir: t.TempDir(), opts: o}
	t.Cleanup(r.kill)
	r.Start(t)
	return r
}

// Dir is the server's working directory (its log, a Sentinel's or a
// cluster node's configuration).
func (r *RedisServer) Dir() string { return r.dir }

// Log returns what the server has logged so far.
func (r *RedisServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return string(b)
}

// Running reports whether the server process is up.
func (r *RedisServer) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

func (r *RedisServer) command() (*exec.Cmd, error) {
	o := r.opts
	var args []string
	if o.Sentinel != nil {
		conf := filepath.Join(r.dir, "sentinel.conf")
		if _, err := os.Stat(conf); os.IsNotExist(err) { // a restart keeps what it learnt
			lines := append([]string{fmt.Sprintf("port %d", o.Port), "bind " + o.Host, "dir " + r.dir,
				"protected-mode no", "sentinel resolve-hostnames no"}, o.Sentinel...)
			if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				return nil, err
			}
		}
		args = []string{conf, "--sentinel"}
	} else {
		// Protected mode would refuse clients from other hosts of a test
		// network: the server is bound to the test's address only anyway.
		args = []string{"--port", fmt.Sprint(o.Port), "--bind", o.Host, "--protected-mode", "no",
			"--save", "", "--appendonly", "no", "--dir", r.dir}
	}
	args = append(append(args, "--daemonize", "no"), o.Args...)
	if o.Netns != "" {
		return exec.Command("ip", append([]string{"netns", "exec", o.Netns, r.bin}, args...)...), nil
	}
	return exec.Command(r.bin, args...), nil
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
	cmd, err := r.command()
	if err != nil {
		logf.Close()
		t.Fatal(err)
	}
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
