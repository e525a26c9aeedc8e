package queue

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// seedRetention writes, straight into the tables, one old and one recent
// row of everything retention deletes, plus an old verification still open
// (never deleted). Ids say what is expected: "old-*" go, "new-*" and
// "open-*" stay.
func seedRetention(t *testing.T, q *Queue, now time.Time) {
	t.Helper()
	old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
	var stmts []stmt
	add := func(sql string, args ...any) { stmts = append(stmts, stmt{sql, args}) }
	add(`INSERT INTO {p}idv_relying_parties (id, name, api_key_hash, api_key_hint, created_at) VALUES ('rp', 'rp', 'h', 'x', $1)`, old)
	for _, v := range []struct {
		id, status string
		at         time.Time
		finished   any
	}{
		{"old-v", "verified", old, old}, {"new-v", "failed", recent, recent}, {"open-v", "processing", old, nil},
	} {
		add(`INSERT INTO {p}idv_verifications (id, relying_party_id, client_reference_id, status, created_at, updated_at, expires_at, finished_at)
			VALUES ($1, 'rp', 'ref', $2, $3, $3, $3, $4)`, v.id, v.status, v.at, v.finished)
		add(`INSERT INTO {p}idv_verification_steps (verification_id, step, position, status, max_attempts) VALUES ($1, 'verify_info', 1, 'done', 5)`, v.id)
		add(`INSERT INTO {p}idv_verification_links (token_hash, verification_id, created_at, expires_at) VALUES ($1, $1, $2, $2)`, v.id, v.at)
		add(`INSERT INTO {p}idv_webhook_events (id, verification_id, relying_party_id, type, status, created_at) VALUES ($1, $1, 'rp', 't', 's', $2)`, v.id+"-e", v.at)
		add(`INSERT INTO {p}idv_webhook_attempts (event_id, attempt, status_code, latency_ms, attempted_at) VALUES ($1, 1, 500, 3, $2)`, v.id+"-e", v.at)
		add(`INSERT INTO {p}idv_outcomes (result_id, kind, trace_id, outcome, stages, failed_attributes, finished_at) VALUES ($1, 'resolution_proofing', 't', 'success', '[]', '[]', $2)`, v.id+"-o", v.at)
	}
	if err := q.b.inTx(ctx(t), func(tx sqlTx) error { return tx.execAll(ctx(t), stmts...) }); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// idsIn lists the key column of a table.
func idsIn(t *testing.T, q *Queue, table, col string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := q.b.inTx(ctx(t), func(tx sqlTx) error {
		rows, err := tx.query(ctx(t), `SELECT `+col+` FROM {p}`+table)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return out
}

// Retention deletes old outcome rows, finished verifications (with their
// steps and links) and webhook events (with their attempts) on both
// backends, and keeps recent rows and open verifications.
func TestApplyRetention(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		open func(t *testing.T) *Queue
	}{
		{"postgres", func(t *testing.T) *Queue { return newPGEnv(t).open(t, Config{}) }},
		{"sqlite", func(t *testing.T) *Queue {
			q := openSQLite(t, Config{})
			if err := q.Migrate(ctx(t)); err != nil {
				t.Fatal(err)
			}
			return q
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			q := b.open(t)
			now := time.Now()
			seedRetention(t, q, now)
			// Nothing is kept forever by a zero retention.
			if d, err := q.ApplyRetention(ctx(t), Retention{}, now); err != nil || len(d) != 0 {
				t.Fatalf("zero retention deleted %v, %v", d, err)
			}
			d, err := q.ApplyRetention(ctx(t), Retention{Outcomes: 30 * 24 * time.Hour, Verifications: 30 * 24 * time.Hour, WebhookEvents: 30 * 24 * time.Hour}, now)
			if err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int64{"idv_outcomes": 2, "idv_verifications": 1, "idv_verification_steps": 1,
				"idv_verification_links": 1, "idv_webhook_events": 2, "idv_webhook_attempts": 2} {
				if d[table] != want {
					t.Errorf("deleted %d from %s, want %d (all: %v)", d[table], table, want, d)
				}
			}
			for _, c := range []struct {
				table, col string
				want       []string
			}{
				{"idv_outcomes", "result_id", []string{"new-v-o"}},
				{"idv_verifications", "id", []string{"new-v", "open-v"}},
				{"idv_verification_steps", "verification_id", []string{"new-v", "open-v"}},
				{"idv_verification_links", "verification_id", []string{"new-v", "open-v"}},
				{"idv_webhook_events", "id", []string{"new-v-e"}},
				{"idv_webhook_attempts", "event_id", []string{"new-v-e"}},
			} {
				got := idsIn(t, q, c.table, c.col)
				if len(got) != len(c.want) {
					t.Errorf("%s keeps %v, want %v", c.table, got, c.want)
				}
				for _, id := range c.want {
					if !got[id] {
						t.Errorf("%s lost %s", c.table, id)
					}
				}
			}
		})
	}
}

// Workers apply the configured retention periodically (at once on start).
func TestWorkersApplyRetention(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	seedRetention(t, q, time.Now())
	startWorkers(t, q, WorkerConfig{
		Handlers:      map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(context.Context, idv.Job) error { return nil })},
		DataRetention: Retention{Outcomes: 30 * 24 * time.Hour},
	})
	eventually(t, 30*time.Second, "the old outcome row deleted", func() bool {
		return env.count(t, `SELECT count(*) FROM idv_outcomes WHERE result_id = 'old-v-o'`) == 0
	})
	if n := env.count(t, `SELECT count(*) FROM idv_outcomes`); n != 1 {
		t.Errorf("%d outcome rows left, want 1 (the recent one)", n)
	}
}

func TestRetentionValidation(t *testing.T) {
	t.Parallel()
	h := map[idv.JobKind]idv.JobHandler{idv.JobResolution: handlerFunc(func(context.Context, idv.Job) error { return nil })}
	for name, r := range map[string]Retention{
		"negative":          {Outcomes: -time.Hour},
		"webhooks too soon": {WebhookEvents: 24 * time.Hour},
	} {
		cfg := WorkerConfig{Handlers: h, DataRetention: r}.withDefaults(time.Second)
		if err := cfg.validate(); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("%s: validate = %v, want EINVALID", name, err)
		}
	}
}
