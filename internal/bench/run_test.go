package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/testenv"
)

// tinySettings are sizes that run every benchmark and baseline in seconds.
func tinySettings(jsonPath string) Settings {
	o := DefaultSettings()
	o.JSONPath, o.Command = jsonPath, "idv bench (test)"
	o.B1Jobs, o.B1Workers, o.B1Submitters, o.B1Rounds = 20, 4, 2, 2
	o.B1RiverBench.Jobs, o.B1RiverBench.Workers = 50, 10
	o.B2Rate, o.B2Duration, o.B2Latency, o.B2Workers = 20, 500*time.Millisecond, 10*time.Millisecond, 10
	o.B3Duration, o.B3Clients, o.B3Sessions = 300*time.Millisecond, 2, 2
	o.B4Jobs, o.B4ImageSize, o.B4Workers = 2, 65536, 2
	o.B5Creates, o.B5APIClients, o.B5Rate, o.B5Duration = 6, 2, 10, 400*time.Millisecond
	o.B6Rate, o.B6Duration, o.B6DocLatency, o.B6ResLatency, o.B6Processes, o.B6Scale = 5, 400*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond, 2, 2
	return o
}

// TestRunAtTinySizes runs every benchmark and its baselines at a tiny size
// against the real PostgreSQL, Redis and versitygw, and checks the JSON it
// writes and that it cleans up after itself. It asserts nothing about
// speed.
func TestRunAtTinySizes(t *testing.T) {
	t.Parallel()
	rc, prefix := testenv.Redis(t)
	cfg := config.Defaults()
	cfg.DatabaseURL, cfg.Redis.Addr, cfg.Redis.Prefix = testenv.DatabaseURL(), testenv.RedisAddr(), prefix
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := Run(ctx, cfg, tinySettings(jsonPath), &stdout, &stderr); err != nil {
		t.Fatalf("Run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, s := range []string{"B1", "B2", "B3", "B4", "B5", "B6", "target", "baseline river_bench", "ratio to river_via_queue", "baseline redis_get",
		"ratio to idv_unbound (idv bound jobs"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("table does not mention %q:\n%s", s, stdout.String())
		}
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var report Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("JSON does not decode: %v\n%s", err, b)
	}
	if report.RunID == "" || report.Machine.CPUs < 1 || report.StartedAt.IsZero() || report.Command != "idv bench (test)" {
		t.Errorf("report header incomplete: %+v", report)
	}
	// Each benchmark's headline metrics and baselines, by name.
	wantMetrics := map[string][]string{
		"B1": {"idv resolution jobs", "idv job run p50", "idv bound jobs (relying party, webhooks on)", "idv bound job run p50"},
		"B2": {"added latency p50", "added latency p90", "added latency p99", "job pickup (enqueue to start) p99"},
		"B3": {"status checks (done)", "latency p99"},
		"B4": {"form_key: decrypt rate in jobs", "form_key: beyond the transfer p50", "hpke: decrypt rate in jobs", "hpke: beyond the transfer p50", "hpke/form_key decrypt rate"},
		"B5": {"verifications created through the API", "webhook received - state change p50", "webhook received - state change p99",
			"verified: webhook received - submit p50", "verified: webhook received - submit p99", "delivery job pickup (state change to job start) p99"},
		"B6": {"old defaults: people missing a result", "sized defaults: people missing a result", "sized defaults: document time to result p99",
			"old defaults: arrival to last result p99"},
	}
	wantBaselines := map[string][]string{
		"B1": {"river_bench", "river_via_queue", "idv_unbound"},
		"B3": {"redis_get"},
	}
	var ids []string
	for _, r := range report.Results {
		ids = append(ids, r.ID)
		if r.Error != "" || r.Target == nil || r.Target.Text == "" || len(r.Params) == 0 || r.LoadAverage[0] == "" {
			t.Errorf("%s: incomplete result: %+v", r.ID, r)
		}
		for _, name := range wantMetrics[r.ID] {
			i := slices.IndexFunc(r.Metrics, func(m Metric) bool { return m.Name == name })
			if i < 0 {
				t.Errorf("%s: no metric %q", r.ID, name)
			} else if r.Metrics[i].Value < 0 {
				t.Errorf("%s: %s = %v", r.ID, name, r.Metrics[i].Value)
			}
		}
		if r.ID == "B1" && (r.Params["rounds"] != float64(2) || !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "in 2 rounds") })) {
			t.Errorf("B1: rounds %v, notes %q: want 2 rounds, each pair's ratio noted", r.Params["rounds"], r.Notes)
		}
		var names []string
		for _, bl := range r.Baselines {
			names = append(names, bl.Name)
			if bl.What == "" || len(bl.Params) == 0 || bl.Unit == "" || bl.Value <= 0 || bl.Ratio <= 0 {
				t.Errorf("%s: baseline %s incomplete or not positive: %+v", r.ID, bl.Name, bl)
			}
		}
		if !slices.Equal(names, wantBaselines[r.ID]) {
			t.Errorf("%s: baselines %v, want %v", r.ID, names, wantBaselines[r.ID])
		}
	}
	if !slices.Equal(ids, []string{"B1", "B2", "B3", "B4", "B5", "B6"}) {
		t.Errorf("results for %v, want B1-B6 in order", ids)
	}
	// B5's people were all verified and their relying party got each
	// verification.verified webhook, with a valid signature, once.
	if i := slices.IndexFunc(report.Results, func(r *Result) bool { return r.ID == "B5" }); i >= 0 {
		got := map[string]float64{}
		for _, m := range report.Results[i].Metrics {
			got[m.Name] = m.Value
		}
		people := got["people"]
		if people < 1 || got["verified (result page reached)"] != people || got["verification.verified webhooks received"] != people ||
			got["webhooks received (all events)"] != 4*people || got["bad signatures"] != 0 || got["duplicate deliveries"] != 0 {
			t.Errorf("B5: people %v, metrics %v: want every person verified, their verification.verified webhook received and 4 events each", people, got)
		}
	}
	// The headline baselines carry DESIGN.md's goals; the other is context.
	goals := map[string]float64{}
	for _, r := range report.Results {
		for _, bl := range r.Baselines {
			goals[bl.Name] = bl.Goal
		}
	}
	if goals["river_bench"] != 0.5 || goals["redis_get"] != 0.25 || goals["river_via_queue"] != 0 || goals["idv_unbound"] != 0.8 {
		t.Errorf("goals = %v, want river_bench 0.5, redis_get 0.25, river_via_queue none, idv_unbound 0.8", goals)
	}
	// The bound run is compared with the unbound one, not the headline.
	for _, r := range report.Results {
		for _, bl := range r.Baselines {
			if want := map[string]string{"idv_unbound": "idv bound jobs (relying party, webhooks on)"}[bl.Name]; bl.Of != want {
				t.Errorf("%s: baseline %s compares %q, want %q", r.ID, bl.Name, bl.Of, want)
			}
		}
	}

	// Nothing left behind: schemas dropped (the baseline's too), Redis keys
	// deleted (the GET baseline's too).
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
	if keys, err := rc.Keys(ctx, prefix+"*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("Redis keys left behind: %q (%v)", keys, err)
	}
}

func TestSettingsRefuseUnboundedSizes(t *testing.T) {
	t.Parallel()
	for name, change := range map[string]func(*Settings){
		"no B1 jobs":              func(o *Settings) { o.B1Jobs = 0 },
		"no river benchmark jobs": func(o *Settings) { o.B1RiverBench.Jobs = 0 },
		"no B1 rounds":            func(o *Settings) { o.B1Rounds = 0 },
		"too many river jobs":     func(o *Settings) { o.B1RiverBench.Jobs = 2_000_000 },
		"B3 past the result TTL":  func(o *Settings) { o.B3Duration = 2 * time.Minute },
		"unknown benchmark":       func(o *Settings) { o.Only = "B9" },
		"B6 scale 0":              func(o *Settings) { o.B6Scale = 0 },
		"B6 no processes":         func(o *Settings) { o.B6Processes = 0 },
		"B5 people past creates":  func(o *Settings) { o.B5Creates = 10 },
		"B5 no API clients":       func(o *Settings) { o.B5APIClients = 0 },
	} {
		o := DefaultSettings()
		change(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, o)
		}
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Errorf("DefaultSettings: %v", err)
	}
}
