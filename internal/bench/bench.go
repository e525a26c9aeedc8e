// Package bench is `idv bench`: the benchmarks of DESIGN.md section 6
// and, as B5, what a relying party sees (issue 10).
// Everything runs in this process against the configured PostgreSQL (in
// schemas of its own, dropped afterwards) and Redis (under a key prefix of
// its own, deleted afterwards); the roles under test are started from
// internal/app, as the commands start them. Targets are reported, never
// asserted: a benchmark is a measurement.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/queue"
)

// Settings are the sizes of every benchmark and where the results go; the
// flags of `idv bench` set them.
type Settings struct {
	Only       string // comma-separated benchmarks to run (empty: all)
	JSONPath   string // where the JSON report goes (empty: bench-<timestamp>.json)
	CPUProfile string // a pprof CPU profile of the whole run, if set
	LogPath    string // the service log lines, if set (else discarded)
	Command    string // the command line, for the report

	B1Jobs, B1Workers, B1Submitters int
	// B1RiverBench is B1's second baseline: River working no-op jobs as
	// River's own benchmark runs it (queue.RunNoopBaseline), in a schema of
	// its own. Only the job count has a flag (tests run it tiny); the rest
	// are River's benchmark settings.
	B1RiverBench queue.NoopBaselineOptions
	// B1Rounds is how many pairs of idv runs (unbound, bound) B1 drains.
	B1Rounds int

	B2Rate     int
	B2Duration time.Duration
	B2Latency  time.Duration
	B2Workers  int

	B3Duration time.Duration
	B3Clients  int
	B3Sessions int

	B4Jobs      int
	B4ImageSize int
	B4Workers   int

	// B5: B5Creates verifications created through the API by B5APIClients
	// concurrent clients; then B5Rate people a second for B5Duration walk
	// the first of them (identity, and phone with B5Phone).
	B5Creates    int
	B5APIClients int
	B5Rate       int
	B5Duration   time.Duration
	B5Phone      bool

	// B6: B6Rate people a second for B6Duration, each a document job
	// (B6DocLatency) then a resolution job (B6ResLatency), on B6Processes
	// worker processes; B6Scale divides the times and multiplies the rate.
	B6Rate       int
	B6Duration   time.Duration
	B6DocLatency time.Duration
	B6ResLatency time.Duration
	B6Processes  int
	B6Scale      int
}

// DefaultSettings are the sizes docs/benchmarks.md reports.
func DefaultSettings() Settings {
	return Settings{
		B1Jobs: 10000, B1Workers: 100, B1Submitters: 8, B1Rounds: 3,
		B1RiverBench: queue.NoopBaselineOptions{
			Jobs:              queue.DefaultBaselineJobs,              // 100,000, inserted before the client starts (burn-down)
			Workers:           queue.DefaultBaselineWorkers,           // 2,000
			FetchCooldown:     queue.DefaultBaselineFetchCooldown,     // 2 ms
			FetchPollInterval: queue.DefaultBaselineFetchPollInterval, // 20 ms
			InsertBatch:       queue.DefaultBaselineInsertBatch,
		},
		B2Rate: 200, B2Duration: 10 * time.Second, B2Latency: 250 * time.Millisecond, B2Workers: 200,
		B3Duration: 10 * time.Second, B3Clients: 32, B3Sessions: 32,
		B4Jobs: 50, B4ImageSize: 2 << 20, B4Workers: 5,
		B5Creates: 2000, B5APIClients: 16, B5Rate: 50, B5Duration: 10 * time.Second, B5Phone: true,
		B6Rate: 20, B6Duration: 30 * time.Second, B6DocLatency: 10 * time.Second, B6ResLatency: 2500 * time.Millisecond,
		B6Processes: 4, B6Scale: 1,
	}
}

// benchmark is one of B1-B5.
type benchmark struct {
	id, title string
	run       func(ctx context.Context, env *env, o Settings) (*Result, error)
}

var benchmarks = []benchmark{
	{"B1", "worker throughput", benchWorkerThroughput},
	{"B2", "added latency", benchAddedLatency},
	{"B3", "poll capacity", benchPollCapacity},
	{"B4", "image path", benchImagePath},
	{"B5", "relying-party latency", benchRelyingPartyLatency},
	{"B6", "slot cliff", benchSlotCliff},
}

// Run runs the selected benchmarks against cfg's PostgreSQL and Redis,
// prints a table to stdout and progress to stderr, and writes the JSON
// report. It fails when a benchmark did, after reporting the others.
func Run(ctx context.Context, cfg config.Config, o Settings, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	selected, err := selectBenchmarks(o.Only)
	if err != nil {
		return err
	}
	if err := cfg.Validate(config.RoleMigrate); err != nil { // database_url and the log level
		return err
	}
	if o.JSONPath == "" {
		o.JSONPath = "bench-" + time.Now().UTC().Format("20060102T150405Z") + ".json"
	}

	env, err := newEnv(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer env.close()

	if o.CPUProfile != "" {
		pf, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	report := &Report{
		Command:   o.Command,
		StartedAt: time.Now().UTC().Truncate(time.Second),
		RunID:     env.runID,
		Machine:   machine(),
		Services:  env.services(ctx),
	}
	var failed []string
	for _, b := range selected {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "idv bench: running %s (%s)...\n", b.id, b.title)
		start, load := time.Now(), loadAverage()
		res, err := b.run(ctx, env, o)
		if res == nil {
			res = &Result{}
		}
		res.ID, res.Title, res.Seconds = b.id, b.title, math.Round(time.Since(start).Seconds()*10)/10
		res.LoadAverage = [2]string{load, loadAverage()}
		if err != nil {
			res.Error = err.Error()
			failed = append(failed, b.id)
		}
		report.Results = append(report.Results, res)
	}
	printTable(stdout, report)
	if err := writeJSON(o.JSONPath, report); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nresults written to %s\n", o.JSONPath)
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

// Validate refuses sizes that would run unbounded or make no sense, naming
// the flag.
func (o Settings) Validate() error {
	checks := []struct {
		name string
		ok   bool
	}{
		{"--b1-jobs must be 1 to 1000000", o.B1Jobs >= 1 && o.B1Jobs <= 1_000_000},
		{"--b1-workers must be 1 to 10000", o.B1Workers >= 1 && o.B1Workers <= 10000},
		{"--b1-submitters must be 1 to 256", o.B1Submitters >= 1 && o.B1Submitters <= 256},
		{"--b1-river-bench-jobs must be 1 to 1000000", o.B1RiverBench.Jobs >= 1 && o.B1RiverBench.Jobs <= 1_000_000},
		{"--b1-rounds must be 1 to 9", o.B1Rounds >= 1 && o.B1Rounds <= 9},
		{"--b2-rate must be 1 to 5000", o.B2Rate >= 1 && o.B2Rate <= 5000},
		{"--b2-duration must be 100ms to 10m", o.B2Duration >= 100*time.Millisecond && o.B2Duration <= 10*time.Minute},
		{"--b2-latency must be 0 to 10s", o.B2Latency >= 0 && o.B2Latency <= 10*time.Second},
		{"--b2-workers must be 1 to 10000", o.B2Workers >= 1 && o.B2Workers <= 10000},
		{"--b3-duration must be 100ms to 40s", o.B3Duration >= 100*time.Millisecond && o.B3Duration <= 40*time.Second},
		{"--b3-clients must be 1 to 1000", o.B3Clients >= 1 && o.B3Clients <= 1000},
		{"--b3-sessions must be 1 to 1000", o.B3Sessions >= 1 && o.B3Sessions <= 1000},
		{"--b4-jobs must be 1 to 10000", o.B4Jobs >= 1 && o.B4Jobs <= 10000},
		{"--b4-image-bytes must be 1 to 10 MiB less the GCM tag", o.B4ImageSize >= 1 && o.B4ImageSize <= 10<<20-16},
		{"--b4-workers must be 1 to 1000", o.B4Workers >= 1 && o.B4Workers <= 1000},
		{"--b5-creates must be 1 to 100000", o.B5Creates >= 1 && o.B5Creates <= 100_000},
		{"--b5-api-clients must be 1 to 1000", o.B5APIClients >= 1 && o.B5APIClients <= 1000},
		{"--b5-rate must be 1 to 5000", o.B5Rate >= 1 && o.B5Rate <= 5000},
		{"--b5-duration must be 100ms to 10m", o.B5Duration >= 100*time.Millisecond && o.B5Duration <= 10*time.Minute},
		{"--b5-rate x --b5-duration must give 1 to --b5-creates people", b5People(o) >= 1 && b5People(o) <= o.B5Creates},
		{"--b6-rate must be 1 to 200", o.B6Rate >= 1 && o.B6Rate <= 200},
		{"--b6-duration must be 100ms to 5m", o.B6Duration >= 100*time.Millisecond && o.B6Duration <= 5*time.Minute},
		{"--b6-document-latency and --b6-resolution-latency must be 0 to 59s", o.B6DocLatency >= 0 && o.B6DocLatency < idv.ResultTTL && o.B6ResLatency >= 0 && o.B6ResLatency < idv.ResultTTL},
		{"--b6-processes must be 1 to 16", o.B6Processes >= 1 && o.B6Processes <= 16},
		{"--b6-scale must be 1 to 20", o.B6Scale >= 1 && o.B6Scale <= 20},
	}
	for _, c := range checks {
		if !c.ok {
			return errors.New(c.name)
		}
	}
	_, err := selectBenchmarks(o.Only)
	return err
}

// b5People is how many people B5's arrivals bring.
func b5People(o Settings) int { return int(float64(o.B5Rate) * o.B5Duration.Seconds()) }

func selectBenchmarks(only string) ([]benchmark, error) {
	if strings.TrimSpace(only) == "" {
		return benchmarks, nil
	}
	var out []benchmark
	for _, id := range strings.Split(only, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		i := slices.IndexFunc(benchmarks, func(b benchmark) bool { return b.id == id })
		if i < 0 {
			return nil, fmt.Errorf("--only: unknown benchmark %q (want B1, B2, B3, B4, B5 or B6)", id)
		}
		if !slices.ContainsFunc(out, func(b benchmark) bool { return b.id == id }) {
			out = append(out, benchmarks[i])
		}
	}
	return out, nil
}
