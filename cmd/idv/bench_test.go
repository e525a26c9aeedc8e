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

	"github.com/idv-dev/idv/internal/bench"
	"github.com/idv-dev/idv/internal/testenv"
)

// TestBenchCommand runs B1 at a tiny size through the command and checks
// that the flags reach the benchmark and the JSON it writes. Every
// benchmark and baseline at tiny sizes, the JSON's shape and the clean-up
// are internal/bench's TestRunAtTinySizes. It asserts nothing about speed.
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
	err := run(ctx, []string{"bench", "--config", cfgPath, "--json", jsonPath, "--only", "B1",
		"--b1-jobs", "20", "--b1-workers", "4", "--b1-submitters", "2", "--b1-river-bench-jobs", "30",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("idv bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, s := range []string{"B1", "target", "baseline river_bench"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("table does not mention %s:\n%s", s, stdout.String())
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
	if !strings.HasPrefix(report.Command, "idv bench ") || len(report.Results) != 1 || report.Results[0].ID != "B1" {
		t.Fatalf("report: command %q, results %+v", report.Command, report.Results)
	}
	r := report.Results[0]
	if r.Error != "" || r.Params["jobs"] != float64(20) || r.Params["workers"] != float64(4) || r.Params["submitters"] != float64(2) {
		t.Errorf("B1 error %q, params %v, want jobs 20, workers 4, submitters 2", r.Error, r.Params)
	}
	i := slices.IndexFunc(r.Baselines, func(b bench.Baseline) bool { return b.Name == "river_bench" })
	if i < 0 || r.Baselines[i].Params["jobs"] != float64(30) || r.Baselines[i].Value <= 0 {
		t.Errorf("B1 baselines %+v, want river_bench with 30 jobs", r.Baselines)
	}
}

func TestBenchFlagsRefuseUnboundedSizes(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--b1-jobs", "0"}, {"--b1-river-bench-jobs", "0"}, {"--b2-rate", "100000"}, {"--b2-duration", "1h"}, {"--b3-duration", "2m"},
		{"--b4-image-bytes", "20000000"}, {"--only", "B9"}, {"--b5-creates", "0"}, {"--b5-creates", "10", "--b5-rate", "50"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"bench", "--json", filepath.Join(t.TempDir(), "x.json")}, args...), &out, &out)
		if err == nil {
			t.Errorf("idv bench %v: no error", args)
		}
	}
}
