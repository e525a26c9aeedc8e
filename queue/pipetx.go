package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// The job path's transaction on PostgreSQL spends as few round trips as its
// statements allow. A transaction through pgx.Tx costs one round trip for
// BEGIN, one per statement or batch and one for COMMIT; an outcome bound
// to a verification took five (BEGIN, the locking read, the writes,
// River's insert of the webhook delivery job, COMMIT) where an unbound one
// took three, and on a busy database each round trip is a backend wake-up
// and a wait. pipeTx sends BEGIN with the first read, holds writes whose
// results nobody reads (execAll, insertJob) until the next statement that
// goes out, and sends the last of them with COMMIT: the bound outcome takes
// two round trips, an unbound one a single implicit transaction.
//
// Only writes whose errors the caller does not branch on may be held, so
// pipeTx is used where that holds: recording an outcome (inJobTx). A held
// write's error is returned by the statement that sends it, or by commit.

// inJobTx runs fn in a pipelined transaction (see pipeTx).
func (p *postgres) inJobTx(ctx context.Context, fn func(sqlTx) error) (err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a failed ROLLBACK) is
	// closed by the pool on release, never reused.
	defer conn.Release()
	t := &pipeTx{conn: conn, prefix: p.prefix, schema: p.schema, notify: p.notifier}
	if err := fn(t); err != nil {
		t.rollback(ctx)
		return err
	}
	if err := t.commit(ctx); err != nil {
		t.rollback(ctx)
		return err
	}
	return nil
}

type pipeTx struct {
	conn    *pgxpool.Conn
	prefix  string
	schema  string
	notify  *insertNotifier
	begun   bool   // BEGIN has gone out
	held    []stmt // writes not sent yet
	pending error  // a held write's error, seen while reading a batch
}

// batch is the next round trip: BEGIN when needed, then the held writes.
// It returns how many results come before the caller's own statements.
func (t *pipeTx) batch(begin bool) (*pgx.Batch, int) {
	b := &pgx.Batch{}
	if begin && !t.begun {
		b.Queue("BEGIN")
		t.begun = true
	}
	for _, s := range t.held {
		b.Queue(withPrefix(s.q, t.prefix), s.args...)
	}
	t.held = nil
	return b, b.Len()
}

// skip reads n results off br, returning the first error.
func skip(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

func (t *pipeTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	b, n := t.batch(true)
	b.Queue(withPrefix(q, t.prefix), args...)
	br := t.conn.SendBatch(ctx, b)
	if err := skip(br, n); err != nil {
		br.Close()
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag.RowsAffected(), err
}

func (t *pipeTx) query(ctx context.Context, q string, args ...any) (sqlRows, error) {
	b, n := t.batch(true)
	b.Queue(withPrefix(q, t.prefix), args...)
	br := t.conn.SendBatch(ctx, b)
	if err := skip(br, n); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pipeRows{Rows: rows, br: br, tx: t}, nil
}

func (t *pipeTx) queryRow(ctx context.Context, q string, args ...any) rowScanner {
	rows, err := t.query(ctx, q, args...)
	return pipeRow{rows: rows, err: err}
}

func (t *pipeTx) execAll(_ context.Context, stmts ...stmt) error {
	t.held = append(t.held, stmts...)
	return nil
}

func (t *pipeTx) forUpdate() string { return " FOR UPDATE OF v" }

// insertJob holds an insert of a River job as River's own insert writes it
// (river_job's columns are River's documented contract: its Python and
// Ruby clients insert with plain SQL too), so it goes out with COMMIT
// instead of costing a round trip of its own. Unique options are not
// supported here. The id is not known before commit: it returns 0.
func (t *pipeTx) insertJob(_ context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	o := river.InsertOpts{}
	if ia, ok := args.(river.JobArgsWithInsertOpts); ok {
		o = ia.InsertOpts()
	}
	if opts != nil {
		if opts.Queue != "" {
			o.Queue = opts.Queue
		}
		if opts.MaxAttempts != 0 {
			o.MaxAttempts = opts.MaxAttempts
		}
		if opts.Priority != 0 {
			o.Priority = opts.Priority
		}
		if unique(opts.UniqueOpts) || len(opts.Tags) > 0 || opts.Pending || !opts.ScheduledAt.IsZero() {
			o = *opts
		}
	}
	if unique(o.UniqueOpts) || len(o.Tags) > 0 || o.Pending || !o.ScheduledAt.IsZero() {
		return 0, fmt.Errorf("pipelined insert of %s: unique, tagged, pending or scheduled jobs go through River's insert", args.Kind())
	}
	encoded, err := json.Marshal(args)
	if err != nil {
		return 0, fmt.Errorf("encode %s job: %w", args.Kind(), err)
	}
	queue := cmp.Or(o.Queue, river.QueueDefault)
	t.held = append(t.held, stmt{`INSERT INTO {p}river_job (args, kind, max_attempts, priority, queue, state, metadata, tags)
		VALUES ($1, $2, $3, $4, $5, 'available', '{}', '{}')`,
		[]any{encoded, args.Kind(), int16(cmp.Or(o.MaxAttempts, river.MaxAttemptsDefault)), int16(cmp.Or(o.Priority, river.PriorityDefault)), queue}})
	// Workers LISTEN for inserts; one notification per queue per fetch
	// cooldown is enough for them to fetch, as River's own insert does.
	if t.notify.due(queue) {
		t.held = append(t.held, stmt{`SELECT pg_notify(concat(coalesce(nullif($1, ''), current_schema()), '.river_insert'), $2)`,
			[]any{t.schema, fmt.Sprintf(`{"queue": %q}`, queue)}})
	}
	return 0, nil
}

func unique(u river.UniqueOpts) bool {
	return u.ByArgs || u.ByPeriod != 0 || u.ByQueue || u.ByState != nil || u.ExcludeKind
}

// commit sends the held writes with COMMIT; with nothing read before
// them, they go as one implicit transaction (one batch, one Sync), which
// PostgreSQL runs atomically.
func (t *pipeTx) commit(ctx context.Context) error {
	if t.pending != nil {
		return t.pending
	}
	begun := t.begun
	b, n := t.batch(false)
	if begun {
		b.Queue("COMMIT")
		n++
	}
	if n == 0 {
		return nil
	}
	br := t.conn.SendBatch(ctx, b)
	err := skip(br, n)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		t.begun = false
	}
	return err
}

// rollback ends a transaction that began; a connection that cannot is
// closed when released.
func (t *pipeTx) rollback(ctx context.Context) {
	t.held = nil
	if !t.begun {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.conn.Conn().PgConn().Close(ctx) //nolint:errcheck // the pool drops it either way
	}
	t.begun = false
}

// pipeRows closes its batch with the rows; the batch's error is the
// transaction's (commit returns it).
type pipeRows struct {
	pgx.Rows
	br     pgx.BatchResults
	tx     *pipeTx
	closed bool
}

func (r *pipeRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.tx.pending == nil {
		r.tx.pending = err
	}
}

func (r *pipeRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return nil
}

type pipeRow struct {
	rows sqlRows
	err  error
}

func (r pipeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return errNoRows
	}
	return r.rows.Scan(dest...)
}

// insertNotifier allows one insert notification per queue per interval.
type insertNotifier struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func (n *insertNotifier) due(queue string) bool {
	if n == nil {
		return false
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if now.Sub(n.last[queue]) < n.every {
		return false
	}
	n.last[queue] = now
	return true
}
