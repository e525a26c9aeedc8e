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
	var report benchReport
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
			i := slices.IndexFunc(r.Metrics, func(m benchMetric) bool { return m.Name == name })
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

func TestBenchSelect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		only    string
		want    []string
		wantErr bool
	}{
		{"", []string{"B1", "B2", "B3", "B4"}, false},
		{"b3, B1", []string{"B3", "B1"}, false},
		{"B2,B2", []string{"B2"}, false},
		{"B5", nil, true},
		{"B1,", nil, true},
	} {
		got, err := selectBenchmarks(tc.only)
		if (err != nil) != tc.wantErr {
			t.Errorf("selectBenchmarks(%q) error = %v", tc.only, err)
			continue
		}
		var ids []string
		for _, b := range got {
			ids = append(ids, b.id)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("selectBenchmarks(%q) = %v, want %v", tc.only, ids, tc.want)
		}
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

func TestBenchPercentile(t *testing.T) {
	t.Parallel()
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {10, 1}, {50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}
