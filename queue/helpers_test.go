package queue

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgEnv is a migrated PostgreSQL schema of the test's own.
type pgEnv struct {
	schema, url string
	db          *pgxpool.Pool // for assertions, search_path = schema
}

func newPGEnv(t testing.TB) pgEnv {
	t.Helper()
	schema, url := testenv.Schema(t)
	env := pgEnv{schema: schema, url: url, db: testenv.Pool(t, url)}
	q := env.open(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return env
}

// open opens a Queue with its own pool: a separate "process".
func (e pgEnv) open(t testing.TB, cfg Config) *Queue {
	t.Helper()
	cfg.Schema = e.schema
	if cfg.Logger == nil {
		cfg.Logger, _ = testenv.Logger(t)
	}
	q, err := OpenPostgres(ctx(t), e.url, cfg)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(q.Close)
	return q
}

func (e pgEnv) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(ctx(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func openSQLite(t testing.TB, cfg Config) *Queue {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger, _ = testenv.Logger(t)
	}
	q, err := OpenSQLite(ctx(t), filepath.Join(t.TempDir(), "idv.db"), cfg)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(q.Close)
	return q
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// newAttempt returns a capture session and its job, as the web tier makes
// them; the "sealed" arguments are random bytes.
func newAttempt(kind idv.JobKind) (idv.CaptureSession, idv.Job) {
	now := time.Now()
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: kind, RequestedAt: now}
	sealed := make([]byte, 48)
	_, _ = rand.Read(sealed)
	return cs, idv.Job{Kind: kind, ResultID: cs.ResultID, TraceID: idv.NewID(), EnqueuedAt: now, EncryptedArguments: sealed}
}

type handlerFunc func(ctx context.Context, job idv.Job) error

func (f handlerFunc) Handle(ctx context.Context, job idv.Job) error { return f(ctx, job) }

// startWorkers starts workers stopped when the test ends.
func startWorkers(t testing.TB, q *Queue, cfg WorkerConfig) *Workers {
	t.Helper()
	w, err := q.StartWorkers(ctx(t), cfg)
	if err != nil {
		t.Fatalf("StartWorkers: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(c)
	})
	return w
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive waits for a value on ch.
func receive[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("after %s: %s", timeout, what)
		panic("unreachable")
	}
}

// quietLogger is a test's logger when the test does not read the log.
func quietLogger(tb testing.TB) *slog.Logger {
	l, _ := testenv.Logger(tb)
	return l
}
