package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// The verification, relying-party and webhook statements are written once
// for both backends, against sqlTx: $1-style placeholders, {p} before each
// table name (the PostgreSQL schema prefix), times as time.Time arguments
// and dbTime scan targets. The transaction holds the row locks that make
// each change atomic: on PostgreSQL the verification row is locked FOR
// UPDATE; SQLite has one writer at a time (transactions begin IMMEDIATE).

// sqlTx is one transaction on either backend.
type sqlTx interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) rowScanner
	query(ctx context.Context, q string, args ...any) (sqlRows, error)
	// insertJob inserts a River job in this transaction and returns its id.
	insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	// execAll runs statements that do not depend on each other's results;
	// PostgreSQL gets them in one round trip (a pipelined batch).
	execAll(ctx context.Context, stmts ...stmt) error
	// forUpdate is the row-lock suffix of a SELECT of the verification row
	// aliased v (empty on SQLite).
	forUpdate() string
}

type rowScanner interface{ Scan(dest ...any) error }

// stmt is one statement and its arguments, for execAll.
type stmt struct {
	q    string
	args []any
}

type sqlRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// txRunner runs fn in a transaction, committing when it returns nil.
type txRunner interface {
	inTx(ctx context.Context, fn func(sqlTx) error) error
}

// dbTime scans a time from either backend: time.Time from pgx, UTC text
// from SQLite, NULL as the zero time.
type dbTime struct{ time.Time }

func (t *dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = v.UTC()
	case string:
		p, err := time.ParseInLocation(sqliteTimeLayout, v, time.UTC)
		if err != nil {
			// River's own columns on SQLite carry fewer fractional
			// digits, or an RFC 3339 form.
			var err2 error
			if p, err2 = time.ParseInLocation("2006-01-02 15:04:05.999999999", v, time.UTC); err2 != nil {
				if p, err2 = time.Parse(time.RFC3339Nano, v); err2 != nil {
					return fmt.Errorf("bad time %q: %w", v, err)
				}
			}
		}
		t.Time = p
	case []byte:
		return t.Scan(string(v))
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
	return nil
}

// dbString scans text that may be NULL.
type dbString struct{ string }

func (s *dbString) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		s.string = ""
	case string:
		s.string = v
	case []byte:
		s.string = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a string", v)
	}
	return nil
}

// nullTime is the argument for a time column that may be NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullString is the argument for a text column that may be NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// --- PostgreSQL

type pgTx struct {
	tx     pgx.Tx
	prefix string
	client *river.Client[pgx.Tx]
}

func (p *postgres) inTx(ctx context.Context, fn func(sqlTx) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		return fn(&pgTx{tx: tx, prefix: p.prefix, client: p.client})
	})
}

func (t *pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, withPrefix(q, t.prefix), args...)
	return tag.RowsAffected(), err
}

func (t *pgTx) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	return pgRow{t.tx.QueryRow(ctx, withPrefix(q, t.prefix), args...)}
}

func (t *pgTx) query(ctx context.Context, q string, args ...any) (sqlRows, error) {
	return t.tx.Query(ctx, withPrefix(q, t.prefix), args...)
}

func (t *pgTx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := t.client.InsertTx(ctx, t.tx, args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (t *pgTx) forUpdate() string { return " FOR UPDATE OF v" }

func (t *pgTx) execAll(ctx context.Context, stmts ...stmt) error {
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(withPrefix(s.q, t.prefix), s.args...)
	}
	return t.tx.SendBatch(ctx, b).Close()
}

// pgRow maps pgx's no-rows error to errNoRows.
type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	}
	return err
}

// --- SQLite

type liteTx struct {
	tx     *sql.Tx
	client *river.Client[*sql.Tx]
}

func (s *sqliteDB) inJobTx(ctx context.Context, fn func(sqlTx) error) error {
	return s.inTx(ctx, fn)
}

func (s *sqliteDB) inTx(ctx context.Context, fn func(sqlTx) error) error {
	// Everything inside uses tx: the pool's only connection is tx's until
	// it ends.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(&liteTx{tx: tx, client: s.client}); err != nil {
		return err
	}
	return tx.Commit()
}

func (t *liteTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, liteQuery(q), liteArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *liteTx) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	return liteRow{t.tx.QueryRowContext(ctx, liteQuery(q), liteArgs(args)...)}
}

func (t *liteTx) query(ctx context.Context, q string, args ...any) (sqlRows, error) {
	rows, err := t.tx.QueryContext(ctx, liteQuery(q), liteArgs(args)...)
	if err != nil {
		return nil, err
	}
	return liteRows{rows}, nil
}

func (t *liteTx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := t.client.InsertTx(ctx, t.tx, args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (t *liteTx) forUpdate() string { return "" }

func (t *liteTx) execAll(ctx context.Context, stmts ...stmt) error {
	for _, s := range stmts {
		if _, err := t.exec(ctx, s.q, s.args...); err != nil {
			return err
		}
	}
	return nil
}

type liteRow struct{ r *sql.Row }

func (r liteRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRows
	}
	return err
}

type liteRows struct{ *sql.Rows }

func (r liteRows) Close() { _ = r.Rows.Close() }

// liteArgs stores times as SQLite's sortable UTC text.
func liteArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			a = sqliteTime(t)
		}
		out[i] = a
	}
	return out
}

var (
	placeholder = regexp.MustCompile(`\$(\d+)`)
	liteQueries sync.Map // query text → SQLite text
	pgQueries   sync.Map // prefix + "\x00" + query text → PostgreSQL text
)

// liteQuery turns $N into SQLite's ?N and drops the schema prefix.
func liteQuery(q string) string {
	if v, ok := liteQueries.Load(q); ok {
		return v.(string)
	}
	out := placeholder.ReplaceAllString(strings.ReplaceAll(q, "{p}", ""), "?$1")
	liteQueries.Store(q, out)
	return out
}

// withPrefix puts the schema prefix before each table name.
func withPrefix(q, prefix string) string {
	key := prefix + "\x00" + q
	if v, ok := pgQueries.Load(key); ok {
		return v.(string)
	}
	out := strings.ReplaceAll(q, "{p}", prefix)
	pgQueries.Store(key, out)
	return out
}
