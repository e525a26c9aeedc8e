package main

// `idv bench`: the benchmarks of DESIGN.md section 6. Everything runs in this
// process against the configured PostgreSQL (in schemas of its own, dropped
// afterwards) and Redis (under a key prefix of its own, deleted afterwards).
// Targets are reported, never asserted: a benchmark is a measurement.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
)

// benchOptions are the sizes of every benchmark.
type benchOptions struct {
	only       string
	jsonPath   string
	cpuProfile string
	logPath    string

	b1Jobs, b1Workers, b1Submitters int

	b2Rate     int
	b2Duration time.Duration
	b2Latency  time.Duration
	b2Workers  int

	b3Duration time.Duration
	b3Clients  int
	b3Sessions int

	b4Jobs      int
	b4ImageSize int
	b4Workers   int
}

func defaultBenchOptions() benchOptions {
	return benchOptions{
		b1Jobs: 10000, b1Workers: 100, b1Submitters: 8,
		b2Rate: 200, b2Duration: 10 * time.Second, b2Latency: 250 * time.Millisecond, b2Workers: 200,
		b3Duration: 10 * time.Second, b3Clients: 32, b3Sessions: 32,
		b4Jobs: 50, b4ImageSize: 2 << 20, b4Workers: 5,
	}
}

// benchmark is one of B1-B4.
type benchmark struct {
	id, title string
	run       func(ctx context.Context, env *benchEnv, o benchOptions) (*benchResult, error)
}

var benchmarks = []benchmark{
	{"B1", "worker throughput", benchWorkerThroughput},
	{"B2", "added latency", benchAddedLatency},
	{"B3", "poll capacity", benchPollCapacity},
	{"B4", "image path", benchImagePath},
}

// benchReport is the JSON file.
type benchReport struct {
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
	// RunID names this run's schemas (idv_bench_<run_id>_*) and Redis
	// prefix (<redis.prefix>bench-<run_id>:), all removed at the end.
	RunID    string         `json:"run_id"`
	Machine  benchMachine   `json:"machine"`
	Services map[string]any `json:"services"`
	Results  []*benchResult `json:"results"`
}

type benchMachine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Model      string `json:"cpu_model"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// benchResult is one benchmark's outcome.
type benchResult struct {
	ID      string         `json:"id"`
	Title   string         `json:"title"`
	Params  map[string]any `json:"params"`
	Metrics []benchMetric  `json:"metrics"`
	Target  *benchTarget   `json:"target,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	Error   string         `json:"error,omitempty"`
	Seconds float64        `json:"seconds"`
	// LoadAverage is the machine's 1, 5 and 15 minute load averages before
	// and after the benchmark, as a sign of other work on the machine.
	LoadAverage [2]string `json:"load_average"`
}

type benchMetric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// benchTarget is the bar of the issue and whether this run met it.
type benchTarget struct {
	Text string `json:"text"`
	Met  bool   `json:"met"`
}

func (r *benchResult) metric(name string, value float64, unit string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		value = 0
	}
	r.Metrics = append(r.Metrics, benchMetric{Name: name, Value: value, Unit: unit})
}

func (r *benchResult) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := defaultBenchOptions()
	f := newFlags("bench", `Run the benchmarks of DESIGN.md section 6 against the configured PostgreSQL (database_url;
each benchmark in a fresh schema, dropped afterwards) and Redis (under a key prefix of its own,
deleted afterwards), print a table and write JSON. Everything else (web tier, workers, vendor
simulators, S3 for B4) runs in this process on loopback. Targets are reported, not asserted.

  B1 worker throughput: resolution jobs/s through River and the real job code (sealed
     arguments, a zero-latency in-process vendor, Redis result writes), beside River's own
     rate with a no-op handler, same database, same run.
  B2 added latency: open-loop arrivals through the HTTP flow (POST verify_info, long-poll the
     status as the page does) with simulated vendor latency: result visible - submit - vendor
     latency (counted twice: resolution, then state ID).
  B3 poll capacity: status checks/s on /verify/verify_info/status for finished attempts.
  B4 image path: document jobs with two encrypted images through S3: decrypt rate and overhead.`, stdout, false, "")
	fs := f.fs
	fs.StringVar(&o.only, "only", "", "comma-separated `LIST` of benchmarks to run (default all), e.g. B1,B3")
	fs.StringVar(&o.jsonPath, "json", "", "write results to `FILE` (default bench-<timestamp>.json)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to `FILE`")
	fs.StringVar(&o.logPath, "log", "", "write the service log lines to `FILE` (default: formatted, then discarded)")
	fs.IntVar(&o.b1Jobs, "b1-jobs", o.b1Jobs, "B1: `N` jobs per run (idv and River no-op)")
	fs.IntVar(&o.b1Workers, "b1-workers", o.b1Workers, "B1: concurrent workers (River MaxWorkers), the same for both runs")
	fs.IntVar(&o.b1Submitters, "b1-submitters", o.b1Submitters, "B1: concurrent submitters filling the queue before the workers start")
	fs.IntVar(&o.b2Rate, "b2-rate", o.b2Rate, "B2: arrivals per second")
	fs.DurationVar(&o.b2Duration, "b2-duration", o.b2Duration, "B2: how long arrivals go on")
	fs.DurationVar(&o.b2Latency, "b2-latency", o.b2Latency, "B2: simulated latency of each vendor call")
	fs.IntVar(&o.b2Workers, "b2-workers", o.b2Workers, "B2: resolution workers")
	fs.DurationVar(&o.b3Duration, "b3-duration", o.b3Duration, "B3: how long clients poll (at most 40s: results live 60s)")
	fs.IntVar(&o.b3Clients, "b3-clients", o.b3Clients, "B3: concurrent clients, each on its own keep-alive connection")
	fs.IntVar(&o.b3Sessions, "b3-sessions", o.b3Sessions, "B3: people (sessions with a finished attempt) the clients poll for")
	fs.IntVar(&o.b4Jobs, "b4-jobs", o.b4Jobs, "B4: document jobs")
	fs.IntVar(&o.b4ImageSize, "b4-image-bytes", o.b4ImageSize, "B4: size of each of the two images")
	fs.IntVar(&o.b4Workers, "b4-workers", o.b4Workers, "B4: document workers")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	selected, err := selectBenchmarks(o.only)
	if err != nil {
		return err
	}
	if err := cfg.Validate(config.RoleMigrate); err != nil { // database_url and the log level
		return err
	}
	if o.jsonPath == "" {
		o.jsonPath = "bench-" + time.Now().UTC().Format("20060102T150405Z") + ".json"
	}

	env, err := newBenchEnv(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer env.close()

	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	report := &benchReport{
		Command:   strings.Join(append([]string{"idv", "bench"}, args...), " "),
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
			res = &benchResult{}
		}
		res.ID, res.Title, res.Seconds = b.id, b.title, math.Round(time.Since(start).Seconds()*10)/10
		res.LoadAverage = [2]string{load, loadAverage()}
		if err != nil {
			res.Error = err.Error()
			failed = append(failed, b.id)
		}
		report.Results = append(report.Results, res)
	}
	printBenchTable(stdout, report)
	if err := writeBenchJSON(o.jsonPath, report); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nresults written to %s\n", o.jsonPath)
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

func (o benchOptions) validate() error {
	checks := []struct {
		name string
		ok   bool
	}{
		{"--b1-jobs must be 1 to 1000000", o.b1Jobs >= 1 && o.b1Jobs <= 1_000_000},
		{"--b1-workers must be 1 to 10000", o.b1Workers >= 1 && o.b1Workers <= 10000},
		{"--b1-submitters must be 1 to 256", o.b1Submitters >= 1 && o.b1Submitters <= 256},
		{"--b2-rate must be 1 to 5000", o.b2Rate >= 1 && o.b2Rate <= 5000},
		{"--b2-duration must be 100ms to 10m", o.b2Duration >= 100*time.Millisecond && o.b2Duration <= 10*time.Minute},
		{"--b2-latency must be 0 to 10s", o.b2Latency >= 0 && o.b2Latency <= 10*time.Second},
		{"--b2-workers must be 1 to 10000", o.b2Workers >= 1 && o.b2Workers <= 10000},
		{"--b3-duration must be 100ms to 40s", o.b3Duration >= 100*time.Millisecond && o.b3Duration <= 40*time.Second},
		{"--b3-clients must be 1 to 1000", o.b3Clients >= 1 && o.b3Clients <= 1000},
		{"--b3-sessions must be 1 to 1000", o.b3Sessions >= 1 && o.b3Sessions <= 1000},
		{"--b4-jobs must be 1 to 10000", o.b4Jobs >= 1 && o.b4Jobs <= 10000},
		{"--b4-image-bytes must be 1 to 10 MiB less the GCM tag", o.b4ImageSize >= 1 && o.b4ImageSize <= 10<<20-16},
		{"--b4-workers must be 1 to 1000", o.b4Workers >= 1 && o.b4Workers <= 1000},
	}
	for _, c := range checks {
		if !c.ok {
			return errors.New(c.name)
		}
	}
	return nil
}

func selectBenchmarks(only string) ([]benchmark, error) {
	if strings.TrimSpace(only) == "" {
		return benchmarks, nil
	}
	var out []benchmark
	for _, id := range strings.Split(only, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		i := slices.IndexFunc(benchmarks, func(b benchmark) bool { return b.id == id })
		if i < 0 {
			return nil, fmt.Errorf("--only: unknown benchmark %q (want B1, B2, B3 or B4)", id)
		}
		if !slices.ContainsFunc(out, func(b benchmark) bool { return b.id == id }) {
			out = append(out, benchmarks[i])
		}
	}
	return out, nil
}

func machine() benchMachine {
	m := benchMachine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func writeBenchJSON(path string, r *benchReport) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printBenchTable(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "\nidv bench on %d CPUs (%s), %s\n\n", r.Machine.CPUs, r.Machine.Model, r.Machine.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bench\tmetric\tvalue\tunit")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t\t\n", res.ID, res.Title)
		for _, m := range res.Metrics {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\n", m.Name, formatValue(m.Value), m.Unit)
		}
		if res.Target != nil {
			met := "MISSED"
			if res.Target.Met {
				met = "met"
			}
			fmt.Fprintf(tw, "\ttarget\t%s\t%s\n", met, res.Target.Text)
		}
		if res.Error != "" {
			fmt.Fprintf(tw, "\terror\t\t%s\n", res.Error)
		}
	}
	_ = tw.Flush()
	for _, res := range r.Results {
		fmt.Fprintf(w, "%s: load average before %s, after %s\n", res.ID, res.LoadAverage[0], res.LoadAverage[1])
		for _, n := range res.Notes {
			fmt.Fprintf(w, "%s: %s\n", res.ID, n)
		}
	}
}

func formatValue(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// benchEnv is what every benchmark shares: the configuration, the log, a
// sealer with a key of this run only, and the schemas and Redis prefix to
// remove at the end.
type benchEnv struct {
	cfg     config.Config
	log     *slog.Logger
	logOut  io.Writer
	logFile io.Closer
	sealer  *seal.Envelope
	redis   *goredis.Client
	prefix  string
	schemas []string
	runID   string
}

func newBenchEnv(ctx context.Context, cfg config.Config, o benchOptions) (*benchEnv, error) {
	level, err := telemetry.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	env := &benchEnv{cfg: cfg, runID: benchRandom()}
	var logOut io.Writer = io.Discard
	if o.logPath != "" {
		f, err := telemetry.OpenLog(o.logPath)
		if err != nil {
			return nil, err
		}
		logOut, env.logFile = f, f
	}
	env.log, env.logOut = telemetry.NewLogger(logOut, level), logOut
	// A key of this run only: the bench writes no key file, and nothing it
	// seals outlives it.
	key := make([]byte, seal.MasterKeySize)
	_, _ = rand.Read(key)
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"bench": key}, "bench")
	if err != nil {
		return nil, err
	}
	if env.sealer, err = seal.NewEnvelope(ring, seal.Options{DataKeyTTL: cfg.Keys.DataKeyLifetime}); err != nil {
		return nil, err
	}
	if env.redis, err = openRedis(ctx, cfg); err != nil {
		return nil, err
	}
	env.prefix = cfg.Redis.Prefix + "bench-" + env.runID + ":"
	return env, nil
}

func benchRandom() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// schema names a fresh PostgreSQL schema for one part of a benchmark; the
// queue's Migrate creates it and close drops it.
func (e *benchEnv) schema(part string) string {
	s := "idv_bench_" + e.runID + "_" + part
	e.schemas = append(e.schemas, s)
	return s
}

// redisPrefix is a key prefix under the run's own.
func (e *benchEnv) redisPrefix(part string) string { return e.prefix + part + ":" }

// services describes the servers used, without credentials.
func (e *benchEnv) services(ctx context.Context) map[string]any {
	out := map[string]any{"redis_addr": e.cfg.Redis.Addr}
	if u, err := url.Parse(e.cfg.DatabaseURL); err == nil {
		out["postgres"] = u.Host + u.Path
		if mc := u.Query().Get("pool_max_conns"); mc != "" {
			out["pool_max_conns"] = mc
		} else {
			out["pool_max_conns"] = fmt.Sprintf("pgxpool default, max(4, NumCPU) = %d per pool", max(4, runtime.NumCPU()))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(cctx, e.cfg.DatabaseURL); err == nil {
		var v string
		if conn.QueryRow(cctx, "SHOW server_version").Scan(&v) == nil {
			out["postgres_version"] = v
		}
		_ = conn.Close(cctx)
	}
	if info, err := e.redis.Info(cctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				out["redis_version"] = v
			}
		}
	}
	return out
}

// close drops the schemas and deletes the Redis keys of this run, even when
// the run was interrupted.
func (e *benchEnv) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if len(e.schemas) > 0 {
		if conn, err := pgx.Connect(ctx, e.cfg.DatabaseURL); err == nil {
			for _, s := range e.schemas {
				if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
					e.log.Warn("bench: schema not dropped", "schema", s, "error", err.Error())
				}
			}
			_ = conn.Close(ctx)
		}
	}
	deleteRedisPrefix(ctx, e.redis, e.prefix)
	_ = e.redis.Close()
	if e.logFile != nil {
		_ = e.logFile.Close()
	}
}

func deleteRedisPrefix(ctx context.Context, c *goredis.Client, prefix string) {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			c.Del(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Del(ctx, batch...)
	}
}

// percentile returns the p-th percentile (0-100) of sorted durations, by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// riverVersion is the River module version built in, for the report.
func riverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
