package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresCluster is a private PostgreSQL cluster for one test, which the
// test may stop and start again on the same port (fault tests). The shared
// server of DatabaseURL must never be restarted: other tests use it.
//
// The cluster is made with initdb in a temporary directory owned by the
// postgres OS user (PostgreSQL refuses to run as root; tests run as root
// here, so its tools run through runuser), listens on 127.0.0.1 and a
// socket in that directory only, trusts local connections, and skips
// fsync: it is disposable.
type PostgresCluster struct {
	// URL is the cluster's postgres database as its superuser.
	URL  string
	Port int
	// HostURL is URL at the extra host of StartPostgresClusterOn.
	HostURL string

	listen string // listen_addresses

	bin string // the PostgreSQL bin directory
	dir string // owned by postgres: data/, the socket, the log
	mu  sync.Mutex
	up  bool
}

// StartPostgresCluster creates and starts a cluster on a free loopback port.
// It is stopped and deleted when the test ends.
func StartPostgresCluster(t testing.TB) *PostgresCluster {
	t.Helper()
	return StartPostgresClusterOn(t, "", "")
}

// StartPostgresClusterOn is StartPostgresCluster listening on host too (an
// address of this machine the test made, such as a bridge to its network
// namespaces), trusting connections from the network trust (a CIDR). URL
// stays the loopback one; HostURL names host.
func StartPostgresClusterOn(t testing.TB, host, trust string) *PostgresCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("testenv: no initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Fatalf("testenv: runuser is needed to run PostgreSQL as the postgres user: %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("testenv: no postgres OS user: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// Not t.TempDir: its parents are root's and closed to other users.
	dir, err := os.MkdirTemp("", "idv-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &PostgresCluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, Port: freePort(t)}
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	c.listen = "127.0.0.1"
	if host != "" {
		c.listen += "," + host
		c.HostURL = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", net.JoinHostPort(host, strconv.Itoa(c.Port)))
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.up {
			_, _ = c.pgctl("stop", "-m", "immediate", "-w", "-t", "30")
			c.up = false
		}
		_ = os.RemoveAll(c.dir)
	})
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("testenv: chown %s to postgres: %v", dir, err)
	}
	if out, err := c.asPostgres(filepath.Join(c.bin, "initdb"), "-D", c.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	if trust != "" {
		hba := filepath.Join(c.data(), "pg_hba.conf")
		f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = fmt.Fprintf(f, "host all all %s trust\n", trust)
			_ = f.Close()
		}
		if err != nil {
			t.Fatalf("testenv: pg_hba.conf: %v", err)
		}
	}
	c.Start(t)
	return c
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (c *PostgresCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *PostgresCluster) asPostgres(args ...string) ([]byte, error) {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
}

func (c *PostgresCluster) pgctl(args ...string) ([]byte, error) {
	return c.asPostgres(append([]string{filepath.Join(c.bin, "pg_ctl"), "-D", c.data()}, args...)...)
}

// Start starts the cluster (again) on its port and waits until it accepts
// connections.
func (c *PostgresCluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up {
		t.Fatal("testenv: PostgreSQL cluster is already running")
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=%s -c fsync=off -c full_page_writes=off -c shared_buffers=32MB -c max_connections=200",
		c.Port, c.dir, c.listen)
	if out, err := c.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		t.Fatalf("testenv: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.up = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL)
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("testenv: PostgreSQL on port %d does not accept connections: %v", c.Port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is coming up
	}
}

// Stop stops the cluster abruptly (pg_ctl -m immediate: connections are
// cut, as in a crash; the next start recovers) and waits until it is down.
func (c *PostgresCluster) Stop(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up {
		t.Fatal("testenv: PostgreSQL cluster is not running")
	}
	if out, err := c.pgctl("stop", "-m", "immediate", "-w", "-t", "60"); err != nil {
		t.Fatalf("testenv: pg_ctl stop: %v\n%s", err, out)
	}
	c.up = false
}
