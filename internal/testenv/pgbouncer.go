package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PgBouncer is a real PgBouncer in front of the test PostgreSQL server.
type PgBouncer struct {
	// URL reaches the test database through the pooler, with pgx's
	// default_query_exec_mode set to exec (no named prepared statements,
	// which PgBouncer before 1.21 cannot carry across transactions).
	URL string
}

// StartPgBouncer starts Debian's pgbouncer on a free loopback port in
// transaction pooling mode with poolSize server connections to the test
// database, stopped when the test ends. PgBouncer refuses to run as root,
// so as root it runs as the postgres user. .ci/services installs it.
func StartPgBouncer(t testing.TB, poolSize int) *PgBouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/pgbouncer"); e != nil {
			t.Fatalf("testenv: pgbouncer is not installed (apt-get install pgbouncer; .ci/services does): %v", err)
		}
		bin = "/usr/sbin/pgbouncer"
	}
	target, err := url.Parse(DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(target.Path, "/")
	dbUser := target.User.Username()
	// Not t.TempDir: its parent is private to root, and pgbouncer runs as
	// postgres.
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s user=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,search_path
logfile = %s
pidfile =
`, dbName, target.Hostname(), target.Port(), dbName, dbUser, port,
		filepath.Join(dir, "users.txt"), poolSize, filepath.Join(dir, "pgbouncer.log"))
	files := map[string]string{"pgbouncer.ini": conf, "users.txt": fmt.Sprintf("%q \"\"\n", dbUser), "pgbouncer.log": ""}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: pgbouncer will not run as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.log")} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		// The process itself, not a runuser wrapper, so the cleanup's kill
		// reaches it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start pgbouncer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "stdout"))
			l, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("testenv: pgbouncer did not start: %v\n%s\n%s", err, b, l)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is coming up
	}
	u := *target
	u.Host = addr
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return &PgBouncer{URL: u.String()}
}
