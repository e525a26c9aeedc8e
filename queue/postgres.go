package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idv-dev/idv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// postgresFetchPollInterval is the fallback poll on PostgreSQL. Jobs are
// normally announced by NOTIFY in the inserting transaction, so the poll
// only matters if a notification is lost (a dropped LISTEN connection).
const postgresFetchPollInterval = time.Second

// OpenPostgres connects to the PostgreSQL database at url (postgres://...;
// pgxpool settings such as pool_max_conns may be given in it) and checks
// that it answers. Close closes the pool.
func OpenPostgres(ctx context.Context, url string, cfg Config) (*Queue, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		// The URL may hold a password: say what failed, not the URL
		// (pgx's error quotes it, redacted only on a best-effort basis).
		if inner := errors.Unwrap(err); inner != nil {
			return nil, idv.Errorf(idv.EINVALID, "database_url is not a valid PostgreSQL URL: %v", inner)
		}
		return nil, idv.Errorf(idv.EINVALID, "database_url is not a valid PostgreSQL URL")
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	q, err := NewPostgres(pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	q.b.(*postgres).ownPool = true
	return q, nil
}

// NewPostgres uses a pool the caller owns; Close leaves it open. The pool
// must allow a few connections: workers hold one for LISTEN and Migrate
// holds one for its lock while River migrates on another.
func NewPostgres(pool *pgxpool.Pool, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	p := &postgres{pool: pool, schema: cfg.Schema,
		notifier: &insertNotifier{every: jobTxNotifyEvery, last: map[string]time.Time{}}}
	if cfg.Schema != "" {
		p.prefix = pgx.Identifier{cfg.Schema}.Sanitize() + "."
	}
	client, err := river.NewClient(riverpgxv5.New(pool), insertConfig(cfg))
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "job queue configuration", err)
	}
	p.client = client
	return &Queue{b: p, cfg: cfg}, nil
}

// insertConfig is the River configuration of the client that only inserts
// jobs (Submit). FetchCooldown is at its minimum because River sends at most
// one insert notification per queue per FetchCooldown from one client: with
// River's default of 100 ms, the second of two quick submits would wait for
// the workers' fallback poll instead of starting at once.
func insertConfig(cfg Config) *river.Config {
	return &river.Config{
		Schema:        cfg.Schema,
		Logger:        cfg.Logger,
		MaxAttempts:   cfg.MaxAttempts,
		FetchCooldown: river.FetchCooldownMin,
	}
}

type postgres struct {
	pool    *pgxpool.Pool
	ownPool bool
	schema  string // as configured; empty means search_path
	prefix  string // quoted schema and a dot, or empty
	client  *river.Client[pgx.Tx]
	// notifier paces the insert notifications of jobs inserted by the job
	// path's pipelined transactions (inJobTx).
	notifier *insertNotifier
}

// jobTxNotifyEvery is the least time between two insert notifications of
// one queue from the job path (the webhook deliveries an outcome
// enqueues). A transaction that sends NOTIFY takes a database-wide lock at
// commit, held while the commit is flushed: one per outcome serializes
// the outcomes' commits. A delivery that misses a notification starts at
// the workers' next fetch or poll instead.
const jobTxNotifyEvery = 100 * time.Millisecond

func (p *postgres) cancelJob(ctx context.Context, id int64) error {
	_, err := p.client.JobCancel(ctx, id)
	return err
}

func (p *postgres) jobCounts(ctx context.Context) ([]stateCount, error) {
	rows, err := p.pool.Query(ctx, fmt.Sprintf(jobCountsSQL, p.prefix))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (stateCount, error) {
		var c stateCount
		err := r.Scan(&c.queue, &c.state, &c.n, &c.oldest)
		return c, err
	})
}

func (p *postgres) leader(ctx context.Context) (string, error) {
	var id string
	err := p.pool.QueryRow(ctx, `SELECT leader_id FROM `+p.prefix+`river_leader WHERE expires_at > now()`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errNoRows
	}
	return id, err
}

func (p *postgres) newClient(cfg *river.Config) (riverClient, error) {
	return river.NewClient(riverpgxv5.New(p.pool), cfg)
}

func (p *postgres) isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func (p *postgres) defaultFetchPollInterval() time.Duration { return postgresFetchPollInterval }

func (p *postgres) close() {
	if p.ownPool {
		p.pool.Close()
	}
}

// migrate holds a session advisory lock, keyed by schema, on one connection
// while River's migrations (on other pool connections) and ours run, so two
// processes migrating at once take turns instead of racing to create the
// same tables.
func (p *postgres) migrate(ctx context.Context, logger *slog.Logger) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const lockKey = `hashtextextended('idv.migrate:' || coalesce(nullif($1, ''), current_schema(), 'public'), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, p.schema); err != nil {
		return err
	}
	defer func() {
		// Unlock even if ctx is done; if that fails too, closing the
		// connection is what releases a session lock.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, p.schema); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()

	if p.schema != "" {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{p.schema}.Sanitize()); err != nil {
			return err
		}
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(p.pool), &rivermigrate.Config{Schema: p.schema, Logger: logger})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return applyOwn(ctx, "postgres", &pgMigrationTarget{conn: conn.Conn(), schema: p.schema, prefix: p.prefix})
}

// pgMigrationTarget runs idv's migrations on the locked connection.
type pgMigrationTarget struct {
	conn   *pgx.Conn
	schema string
	prefix string
}

func (t *pgMigrationTarget) ensureTable(ctx context.Context) error {
	_, err := t.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t.prefix+`idv_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	return err
}

func (t *pgMigrationTarget) apply(ctx context.Context, m migration) error {
	return pgx.BeginFunc(ctx, t.conn, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.prefix+`idv_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil || done {
			return err
		}
		// The migration files name tables without a schema: point this
		// transaction's search_path at ours.
		if t.schema != "" {
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{t.schema}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("idv migration %03d %s: %w", m.version, m.name, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+t.prefix+`idv_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
		return err
	})
}
