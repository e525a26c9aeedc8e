package queue

import (
	"context"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t) // migrated once
	q := env.open(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if n, want := env.count(t, `SELECT count(*) FROM idv_migrations`), ownMigrations(t); n != want {
		t.Errorf("idv_migrations has %d rows, want %d", n, want)
	}
	if n := env.count(t, `SELECT count(*) FROM river_migration`); n < 6 {
		t.Errorf("river_migration has %d rows: River's migrations did not run", n)
	}
	if err := q.Ping(ctx(t)); err != nil {
		t.Errorf("Ping after Migrate: %v", err)
	}
}

// Two processes starting at once (`idv migrate` run twice, or two
// deployments) both succeed.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	schema, url := testenv.Schema(t)
	env := pgEnv{schema: schema, url: url, db: testenv.Pool(t, url)}
	const n = 3
	qs := make([]*Queue, n)
	for i := range qs {
		qs[i] = env.open(t, Config{})
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() { errs[i] = q.Migrate(ctx(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	if n, want := env.count(t, `SELECT count(*) FROM idv_migrations`), ownMigrations(t); n != want {
		t.Errorf("idv_migrations has %d rows, want %d", n, want)
	}
}

// Migrate creates the configured schema, so a deployment can name a schema
// of its own without creating it by hand.
func TestMigrateCreatesSchema(t *testing.T) {
	t.Parallel()
	schema := testenv.RandomName("t_")
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(c, testenv.DatabaseURL())
		if err != nil {
			t.Log(err)
			return
		}
		defer conn.Close(c)
		if _, err := conn.Exec(c, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Log(err)
		}
	})
	// The URL's search_path is the default schema, not ours: everything must
	// be qualified with Config.Schema.
	logger, _ := testenv.Logger(t)
	q, err := OpenPostgres(ctx(t), testenv.DatabaseURL(), Config{Schema: schema, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	cs, job := newAttempt("resolution_proofing")
	if err := q.Submit(ctx(t), cs, job); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if _, err := q.CaptureSession(ctx(t), cs.ID); err != nil {
		t.Fatalf("CaptureSession: %v", err)
	}
	var n int
	if err := q.b.(*postgres).pool.QueryRow(ctx(t), `SELECT count(*) FROM `+schema+`.river_job`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("jobs in %s.river_job: %d, %v", schema, n, err)
	}
}

func TestMigrationFiles(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres", "sqlite"} {
		ms, err := loadMigrations(backend)
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s migrations: %d, %v", backend, len(ms), err)
		}
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s migration %s has version %d, want %d (no gaps)", backend, m.name, m.version, i+1)
			}
		}
	}
	pg, _ := loadMigrations("postgres")
	lite, _ := loadMigrations("sqlite")
	if len(pg) != len(lite) {
		t.Errorf("%d PostgreSQL migrations but %d SQLite ones: keep the backends in step", len(pg), len(lite))
	}
}

// ownMigrations is how many of idv's PostgreSQL migrations there are.
func ownMigrations(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrationFS, "migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	return len(files)
}
