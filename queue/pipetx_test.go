package queue

import (
	"errors"
	"testing"

	"github.com/riverqueue/river"
)

// TestJobTxAtomic: the job path's pipelined transaction holds writes until
// the next statement or COMMIT; whatever fails, nothing of it lands and the
// connection goes back to the pool usable.
func TestJobTxAtomic(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	if _, err := env.db.Exec(ctx(t), `CREATE TABLE pipe_probe (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(id int) stmt { return stmt{`INSERT INTO {p}pipe_probe (id) VALUES ($1)`, []any{id}} }
	read := func(tx sqlTx) error {
		var n int
		return tx.queryRow(ctx(t), `SELECT count(*) FROM {p}pipe_probe`).Scan(&n)
	}
	boom := errors.New("caller gave up")
	cases := []struct {
		name    string
		fn      func(sqlTx) error
		wantErr bool
		want    int // rows in pipe_probe after
	}{
		{"held writes only: one implicit transaction", func(tx sqlTx) error {
			return tx.execAll(ctx(t), insert(1), insert(2))
		}, false, 2},
		{"held write fails at commit: none lands", func(tx sqlTx) error {
			return tx.execAll(ctx(t), insert(3), insert(1))
		}, true, 2},
		{"read first, then held writes: BEGIN with the read, writes with COMMIT", func(tx sqlTx) error {
			if err := read(tx); err != nil {
				return err
			}
			return tx.execAll(ctx(t), insert(4), insert(5))
		}, false, 4},
		{"read first, held write fails at commit: rolled back", func(tx sqlTx) error {
			if err := read(tx); err != nil {
				return err
			}
			return tx.execAll(ctx(t), insert(6), insert(4))
		}, true, 4},
		{"held write fails when the next read sends it", func(tx sqlTx) error {
			if err := read(tx); err != nil {
				return err
			}
			if err := tx.execAll(ctx(t), insert(7), insert(5)); err != nil {
				return err
			}
			return read(tx)
		}, true, 4},
		{"caller's error after a read: rolled back", func(tx sqlTx) error {
			if err := read(tx); err != nil {
				return err
			}
			if err := tx.execAll(ctx(t), insert(8)); err != nil {
				return err
			}
			if _, err := tx.exec(ctx(t), `INSERT INTO {p}pipe_probe (id) VALUES (9)`); err != nil {
				return err
			}
			return boom
		}, true, 4},
	}
	for _, c := range cases {
		err := q.b.inJobTx(ctx(t), c.fn)
		if (err != nil) != c.wantErr {
			t.Fatalf("%s: err = %v, want error %v", c.name, err, c.wantErr)
		}
		if got := env.count(t, `SELECT count(*) FROM pipe_probe`); got != c.want {
			t.Fatalf("%s: %d rows, want %d", c.name, got, c.want)
		}
	}
	// Every connection went back clean: the pool still runs transactions.
	for range 20 {
		if err := q.b.inJobTx(ctx(t), read); err != nil {
			t.Fatalf("after the failures: %v", err)
		}
	}
}

// TestJobTxInsertJob: a job inserted with COMMIT by the pipelined
// transaction is the row River's own insert writes (cmd/idv's
// verifications end-to-end test sees such jobs delivered by River's workers
// to a relying party's webhook).
func TestJobTxInsertJob(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	q := env.open(t, Config{})
	err := q.b.inJobTx(ctx(t), func(tx sqlTx) error {
		_, err := tx.insertJob(ctx(t), deliveryArgs{EventID: "evt_x", VerificationID: "ver_x"}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var queue, kind, state string
	var maxAttempts, priority int
	var args map[string]any
	if err := env.db.QueryRow(ctx(t), `SELECT queue, kind, state, max_attempts, priority, args FROM river_job`).
		Scan(&queue, &kind, &state, &maxAttempts, &priority, &args); err != nil {
		t.Fatal(err)
	}
	if queue != WebhookQueue || kind != "idv_webhook_delivery" || state != "available" || maxAttempts != WebhookMaxAttempts || priority != 1 ||
		args["event_id"] != "evt_x" || args["verification_id"] != "ver_x" {
		t.Fatalf("job row: queue %q kind %q state %q max_attempts %d priority %d args %v", queue, kind, state, maxAttempts, priority, args)
	}
	// Options the pipelined insert does not write go through River's own
	// insert instead: asking for them is an error, not a silent drop.
	err = q.b.inJobTx(ctx(t), func(tx sqlTx) error {
		_, err := tx.insertJob(ctx(t), deliveryArgs{EventID: "evt_y"}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
		return err
	})
	if err == nil {
		t.Fatal("unique insert through the pipelined transaction: no error")
	}
}
