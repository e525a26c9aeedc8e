package queue

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
)

func TestRunNoopBaselineWorksEveryJobAndLeavesNoRows(t *testing.T) {
	t.Parallel()
	schema, url := testenv.Schema(t) // empty: RunNoopBaseline migrates it
	o := NoopBaselineOptions{Jobs: 500, Workers: 50, InsertBatch: 120}
	res, err := RunNoopBaseline(ctx(t), url, Config{Schema: schema, Logger: quietLogger(t)}, o)
	if err != nil {
		t.Fatalf("RunNoopBaseline: %v", err)
	}
	if res.Jobs != o.Jobs {
		t.Errorf("Jobs = %d, want %d", res.Jobs, o.Jobs)
	}
	if res.Elapsed <= 0 {
		t.Errorf("Elapsed = %s, want > 0", res.Elapsed)
	}
	if want := float64(res.Jobs) / res.Elapsed.Seconds(); res.PerSecond != want {
		t.Errorf("PerSecond = %v, want Jobs/Elapsed = %v", res.PerSecond, want)
	}

	db := testenv.Pool(t, url)
	for _, q := range []string{
		`SELECT count(*) FROM river_job`,
		`SELECT count(*) FROM river_queue WHERE name = '` + baselineQueue + `'`,
		`SELECT count(*) FROM river_leader`,
	} {
		var n int
		if err := db.QueryRow(ctx(t), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

func TestRunNoopBaselineMigratesAMigratedSchemaAgain(t *testing.T) {
	t.Parallel()
	env := newPGEnv(t)
	res, err := RunNoopBaseline(ctx(t), env.url, Config{Schema: env.schema, Logger: quietLogger(t)}, NoopBaselineOptions{Jobs: 20, Workers: 5})
	if err != nil {
		t.Fatalf("RunNoopBaseline: %v", err)
	}
	if res.Jobs != 20 {
		t.Errorf("Jobs = %d, want 20", res.Jobs)
	}
	if n := env.count(t, `SELECT count(*) FROM river_job`); n != 0 {
		t.Errorf("%d jobs left", n)
	}
}

func TestRunNoopBaselineCancelled(t *testing.T) {
	t.Parallel()
	schema, url := testenv.Schema(t)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := RunNoopBaseline(c, url, Config{Schema: schema, Logger: quietLogger(t)}, NoopBaselineOptions{Jobs: 10, Workers: 2}); err == nil {
		t.Fatal("RunNoopBaseline with a cancelled context: no error")
	}
}

func TestRunNoopBaselineRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]NoopBaselineOptions{
		"negative jobs":       {Jobs: -1},
		"too many workers":    {Workers: 10_001},
		"negative cooldown":   {FetchCooldown: -time.Millisecond},
		"poll under 1 ms":     {FetchPollInterval: time.Microsecond},
		"negative batch size": {InsertBatch: -5},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// No database is reached: the URL points nowhere.
			if _, err := RunNoopBaseline(ctx(t), "postgres://127.0.0.1:9/none", Config{Logger: quietLogger(t)}, o); err == nil {
				t.Errorf("RunNoopBaseline(%+v): no error", o)
			}
		})
	}
}

// BenchmarkNoopBaseline is River's own benchmark at its full size (100k
// jobs, one burn-down per iteration):
//
//	go test -run '^$' -bench NoopBaseline -benchtime 1x ./queue/
func BenchmarkNoopBaseline(b *testing.B) {
	schema, url := testenv.Schema(b)
	var jobs int
	var elapsed time.Duration
	for b.Loop() {
		res, err := RunNoopBaseline(context.Background(), url, Config{Schema: schema, Logger: quietLogger(b)}, NoopBaselineOptions{})
		if err != nil {
			b.Fatalf("RunNoopBaseline: %v", err)
		}
		jobs += res.Jobs
		elapsed += res.Elapsed
	}
	b.ReportMetric(float64(jobs)/elapsed.Seconds(), "jobs/s")
}
