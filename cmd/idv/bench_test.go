package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/internal/bench"
	"github.com/idv-dev/idv/internal/testenv"
)

// TestBenchCommand runs every benchmark at a tiny size against the real
// PostgreSQL, Redis and versitygw, and checks the JSON it writes and that
// it cleans up after itself. It asserts nothing about speed.
func TestBenchCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, prefix := testenv.Redis(t)
	cfgPath := filepath.Join(dir, "idv.yaml")
	cfg := fmt.Sprintf("database_url: %q\nredis:\n  addr: %q\n  prefix: %q\n", testenv.DatabaseURL(), testenv.RedisAddr(), prefix)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "--config", cfgPath, "--json", jsonPath,
		"--b1-jobs", "20", "--b1-workers", "4", "--b1-submitters", "2",
		"--b2-rate", "20", "--b2-duration", "500ms", "--b2-latency", "10ms", "--b2-workers", "10",
		"--b3-duration", "300ms", "--b3-clients", "2", "--b3-sessions", "2",
		"--b4-jobs", "2", "--b4-image-bytes", "65536", "--b4-workers", "2",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("idv bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, id := range []string{"B1", "B2", "B3", "B4", "target"} {
		if !strings.Contains(stdout.String(), id) {
			t.Errorf("table does not mention %s:\n%s", id, stdout.String())
		}
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var report bench.Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("JSON does not decode: %v\n%s", err, b)
	}
	if report.RunID == "" || report.Machine.CPUs < 1 || report.StartedAt.IsZero() || !strings.HasPrefix(report.Command, "idv bench ") {
		t.Errorf("report header incomplete: %+v", report)
	}
	// Each benchmark's headline metrics, by name.
	want := map[string][]string{
		"B1": {"idv resolution jobs", "river no-op jobs", "ratio idv / river no-op"},
		"B2": {"added latency p50", "added latency p90", "added latency p99", "job pickup (enqueue to start) p99"},
		"B3": {"status checks (done)", "latency p99"},
		"B4": {"decrypt rate in jobs", "beyond the transfer p50"},
	}
	var ids []string
	for _, r := range report.Results {
		ids = append(ids, r.ID)
		if r.Error != "" || r.Target == nil || r.Target.Text == "" || len(r.Params) == 0 || r.LoadAverage[0] == "" {
			t.Errorf("%s: incomplete result: %+v", r.ID, r)
		}
		for _, name := range want[r.ID] {
			i := slices.IndexFunc(r.Metrics, func(m bench.Metric) bool { return m.Name == name })
			if i < 0 {
				t.Errorf("%s: no metric %q", r.ID, name)
			} else if r.Metrics[i].Value < 0 {
				t.Errorf("%s: %s = %v", r.ID, name, r.Metrics[i].Value)
			}
		}
	}
	if !slices.Equal(ids, []string{"B1", "B2", "B3", "B4"}) {
		t.Errorf("results for %v, want B1-B4 in order", ids)
	}

	// Nothing left behind: schemas dropped, Redis keys deleted.
	conn, err := pgx.Connect(ctx, testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var schemas int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1`, "idv_bench_"+report.RunID+"%").Scan(&schemas); err != nil {
		t.Fatal(err)
	}
	if schemas != 0 {
		t.Errorf("%d schemas of the run left behind", schemas)
	}
	rc := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr()})
	defer rc.Close()
	if keys, err := rc.Keys(ctx, prefix+"bench-"+report.RunID+":*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("Redis keys left behind: %d (%v)", len(keys), err)
	}
}

func TestBenchFlagsRefuseUnboundedSizes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--b1-jobs", "0"}, {"--b2-rate", "100000"}, {"--b2-duration", "1h"}, {"--b3-duration", "2m"},
		{"--b4-image-bytes", "20000000"}, {"--only", "B9"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"bench", "--json", filepath.Join(t.TempDir(), "x.json")}, args...), &out, &out)
		if err == nil {
			t.Errorf("idv bench %v: no error", args)
		}
	}
}
