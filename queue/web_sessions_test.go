package queue

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

var (
	_ scs.Store    = (*WebSessions)(nil)
	_ scs.CtxStore = (*WebSessions)(nil)
)

// The session store keeps a session across a reopen of the database file
// (a restart of `idv dev`), replaces it on commit, forgets it on delete,
// and never returns one past its expiry; expired rows are pruned.
func TestWebSessions(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var q *Queue
			var reopen func() *Queue
			switch backend {
			case "sqlite":
				path := filepath.Join(t.TempDir(), "jobs.sqlite")
				open := func() *Queue {
					q, err := OpenSQLite(ctx(t), path, Config{Logger: quietLogger(t)})
					if err != nil {
						t.Fatal(err)
					}
					if err := q.Migrate(ctx(t)); err != nil {
						t.Fatal(err)
					}
					return q
				}
				q = open()
				reopen = func() *Queue { q.Close(); q = open(); t.Cleanup(q.Close); return q }
			case "postgres":
				env := newPGEnv(t)
				q = env.open(t, Config{})
				reopen = func() *Queue { return env.open(t, Config{}) }
			}
			now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
			s := q.WebSessions()
			s.now = func() time.Time { return now }
			sealed := []byte("sealed session bytes")
			if err := s.CommitCtx(ctx(t), "tok-1", sealed, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.CommitCtx(ctx(t), "tok-old", []byte("x"), now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			s = reopen().WebSessions()
			s.now = func() time.Time { return now }
			if got, ok, err := s.FindCtx(ctx(t), "tok-1"); err != nil || !ok || !bytes.Equal(got, sealed) {
				t.Fatalf("after a reopen: %q %v %v", got, ok, err)
			}
			if err := s.CommitCtx(ctx(t), "tok-1", []byte("v2"), now.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got, ok, _ := s.FindCtx(ctx(t), "tok-1"); !ok || string(got) != "v2" {
				t.Fatalf("after a second commit: %q %v", got, ok)
			}
			now = now.Add(5 * time.Minute) // tok-old expired
			if _, ok, err := s.FindCtx(ctx(t), "tok-old"); ok || err != nil {
				t.Fatalf("expired session found: %v %v", ok, err)
			}
			if err := s.CommitCtx(ctx(t), "tok-2", []byte("y"), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := q.b.inTx(ctx(t), func(tx sqlTx) error {
				return tx.queryRow(ctx(t), `SELECT count(*) FROM {p}idv_web_sessions`).Scan(&n)
			}); err != nil || n != 2 {
				t.Fatalf("%d rows (%v), want 2: the expired one pruned", n, err)
			}
			if err := s.DeleteCtx(ctx(t), "tok-1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete("never"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Find("tok-1"); ok {
				t.Fatal("deleted session found")
			}
		})
	}
}
