package queue

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebSessions is a store of the web tier's sessions in this database
// (idv_web_sessions, migration 008), with the methods of scs's Store and
// CtxStore. `idv dev` uses it on SQLite so that people's sessions outlive a
// restart of the process: a person whose check was in flight then sees the
// attempt end ("taking longer than usual", the attempt given back) instead
// of silently starting over. Production keeps sessions in Redis. The data
// is what the session codec wrote (sealed); nothing here reads it.
type WebSessions struct {
	q   *Queue
	now func() time.Time
}

// WebSessions returns the session store on this database.
func (q *Queue) WebSessions() *WebSessions { return &WebSessions{q: q, now: time.Now} }

// FindCtx returns the session data of token, if it exists and has not
// expired.
func (s *WebSessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	var expiry dbTime
	err := s.q.b.inTx(ctx, func(tx sqlTx) error {
		return tx.queryRow(ctx, `SELECT data, expiry FROM {p}idv_web_sessions WHERE token = $1`, token).Scan(&data, &expiry)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable(err)
	case !s.now().Before(expiry.Time):
		return nil, false, nil
	}
	return data, true, nil
}

// CommitCtx writes the session data of token, replacing any, and removes
// sessions that expired (a handful in development).
func (s *WebSessions) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	now := s.now().UTC()
	err := s.q.b.inTx(ctx, func(tx sqlTx) error {
		if _, err := tx.exec(ctx, `INSERT INTO {p}idv_web_sessions (token, data, expiry) VALUES ($1, $2, $3)
			ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`, token, data, expiry.UTC()); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `DELETE FROM {p}idv_web_sessions WHERE expiry <= $1`, now)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// DeleteCtx removes the session of token; a missing one is not an error.
func (s *WebSessions) DeleteCtx(ctx context.Context, token string) error {
	err := s.q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `DELETE FROM {p}idv_web_sessions WHERE token = $1`, token)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Find, Commit and Delete are scs's Store methods, for callers without a
// context.
func (s *WebSessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s *WebSessions) Commit(token string, data []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, data, expiry)
}

func (s *WebSessions) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }
