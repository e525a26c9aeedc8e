package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteFetchPollInterval is the fallback poll on SQLite. River's SQLite
// driver announces new jobs through an outbox table its listener reads every
// 50 ms; the poll covers anything that path misses, and is short because
// `idv dev` should feel instant and a poll of a local file is cheap.
const sqliteFetchPollInterval = 100 * time.Millisecond

// sqliteTimeLayout stores times as UTC text that sorts in time order and
// that SQLite's date functions read.
const sqliteTimeLayout = "2006-01-02 15:04:05.000000000"

// OpenSQLite opens (creating it, mode 0600, if needed) the SQLite database
// file at path, for `idv dev`. Config.Schema is ignored. Close closes the database.
//
// The handle has one connection, as River's SQLite driver requires: SQLite
// allows one writer at a time and River's services would otherwise fail
// with SQLITE_BUSY. WAL lets other processes read the file meanwhile
// (sqlite3 on the command line, say), and busy_timeout makes a second
// process wait for the write lock instead of failing at once.
func OpenSQLite(ctx context.Context, path string, cfg Config) (*Queue, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, idv.Errorf(idv.EINVALID, "SQLite path %q must be a plain file path", path)
	}
	// SQLite would create the file 0644 (less the umask), and its WAL and
	// shared-memory files with the same mode: create it 0600 first. The
	// jobs are sealed, but their metadata and timing are no one else's.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, unavailable(err)
	}
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, unavailable(err)
	}
	db.SetMaxOpenConns(1)
	// Keep the one connection: an in-memory database would vanish with it.
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, unavailable(err)
	}
	cfg = cfg.withDefaults()
	cfg.Schema = ""
	s := &sqliteDB{db: db}
	client, err := river.NewClient(riversqlite.New(db), insertConfig(cfg))
	if err != nil {
		_ = db.Close()
		return nil, idv.WrapError(idv.EINVALID, "job queue configuration", err)
	}
	s.client = client
	return &Queue{b: s, cfg: cfg}, nil
}

type sqliteDB struct {
	db     *sql.DB
	client *river.Client[*sql.Tx]
}

func sqliteTime(t time.Time) string { return t.UTC().Format(sqliteTimeLayout) }

func (s *sqliteDB) cancelJob(ctx context.Context, id int64) error {
	_, err := s.client.JobCancel(ctx, id)
	return err
}

func (s *sqliteDB) jobCounts(ctx context.Context) ([]stateCount, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(jobCountsSQL, ""))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stateCount
	for rows.Next() {
		var c stateCount
		if err := rows.Scan(&c.queue, &c.state, &c.n, &c.oldest); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// leader compares River's UTC text times with SQLite's own clock, in the
// same "YYYY-MM-DD HH:MM:SS.SSS" form.
func (s *sqliteDB) leader(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > datetime('now', 'subsec')`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoRows
	}
	return id, err
}

func (s *sqliteDB) newClient(cfg *river.Config) (riverClient, error) {
	return river.NewClient(riversqlite.New(s.db), cfg)
}

func (s *sqliteDB) isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func (s *sqliteDB) defaultFetchPollInterval() time.Duration { return sqliteFetchPollInterval }

func (s *sqliteDB) close() { _ = s.db.Close() }

// migrate needs no lock of its own: each of idv's migrations checks and
// records its version inside one transaction, and transactions begin
// IMMEDIATE (they take SQLite's write lock at once), so two processes on one
// file take turns.
func (s *sqliteDB) migrate(ctx context.Context, logger *slog.Logger) error {
	migrator, err := rivermigrate.New(riversqlite.New(s.db), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return applyOwn(ctx, "sqlite", &sqliteMigrationTarget{db: s.db})
}

type sqliteMigrationTarget struct{ db *sql.DB }

func (t *sqliteMigrationTarget) ensureTable(ctx context.Context) error {
	_, err := t.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS idv_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
	)`)
	return err
}

func (t *sqliteMigrationTarget) apply(ctx context.Context, m migration) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM idv_migrations WHERE version = ?`, m.version).Scan(&n); err != nil || n > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("idv migration %03d %s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO idv_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
		return err
	}
	return tx.Commit()
}
