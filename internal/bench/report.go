package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the JSON file of one run.
type Report struct {
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
	// RunID names this run's schemas (idv_bench_<run_id>_*) and Redis
	// prefix (<redis.prefix>bench-<run_id>:), all removed at the end.
	RunID    string         `json:"run_id"`
	Machine  Machine        `json:"machine"`
	Services map[string]any `json:"services"`
	Results  []*Result      `json:"results"`
}

// Machine is what the run ran on.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Model      string `json:"cpu_model"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// Result is one benchmark's outcome.
type Result struct {
	ID      string         `json:"id"`
	Title   string         `json:"title"`
	Params  map[string]any `json:"params"`
	Metrics []Metric       `json:"metrics"`
	// Baselines are references measured in the same run, on the same
	// machine and servers, that the headline rate is compared with.
	Baselines []Baseline `json:"baselines,omitempty"`
	Target    *Target    `json:"target,omitempty"`
	Notes     []string   `json:"notes,omitempty"`
	Error     string     `json:"error,omitempty"`
	Seconds   float64    `json:"seconds"`
	// LoadAverage is the machine's 1, 5 and 15 minute load averages before
	// and after the benchmark, as a sign of other work on the machine.
	LoadAverage [2]string `json:"load_average"`
}

// Metric is one measured value.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Baseline is a reference measured in the same run, and the benchmark's
// headline rate over it. A baseline run with worse settings than its own
// best would flatter idv, so each says how it was run.
type Baseline struct {
	Name   string         `json:"name"` // short and stable: river_bench, river_via_queue, redis_get
	What   string         `json:"what"`
	Params map[string]any `json:"params"`
	Value  float64        `json:"value"`
	Unit   string         `json:"unit"`
	// Of names the metric compared with this baseline; empty, it is the
	// benchmark's headline rate.
	Of string `json:"of,omitempty"`
	// Ratio is the compared rate (Of, or the headline) divided by Value.
	Ratio float64 `json:"ratio"`
	// Goal is the least Ratio DESIGN.md section 6 asks for; absent when
	// the baseline is shown for context only.
	Goal float64 `json:"goal,omitempty"`
}

// Target is the bar of the issue and whether this run met it.
type Target struct {
	Text string `json:"text"`
	Met  bool   `json:"met"`
}

func (r *Result) metric(name string, value float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: finite(value), Unit: unit})
}

// baseline records b with the ratio rate / b.Value, where rate is the
// headline or, when b.Of is set, that metric's value.
func (r *Result) baseline(b Baseline, rate float64) {
	b.Value, b.Ratio = finite(b.Value), finite(rate/b.Value)
	r.Baselines = append(r.Baselines, b)
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
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

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printTable(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\nidv bench on %d CPUs (%s), %s\n\n", r.Machine.CPUs, r.Machine.Model, r.Machine.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bench\tmetric\tvalue\tunit")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t\t\n", res.ID, res.Title)
		for _, m := range res.Metrics {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\n", m.Name, formatValue(m.Value), m.Unit)
		}
		for _, b := range res.Baselines {
			fmt.Fprintf(tw, "\tbaseline %s\t%s\t%s\n", b.Name, formatValue(b.Value), b.Unit)
			goal := "context only"
			if b.Goal > 0 {
				goal = fmt.Sprintf("goal >= %g: met", b.Goal)
				if b.Ratio < b.Goal {
					goal = fmt.Sprintf("goal >= %g: MISSED", b.Goal)
				}
			}
			of := ""
			if b.Of != "" {
				of = " (" + b.Of + ")"
			}
			fmt.Fprintf(tw, "\tratio to %s%s\t%.2f\t%s\n", b.Name, of, b.Ratio, goal)
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
		for _, b := range res.Baselines {
			fmt.Fprintf(w, "%s: baseline %s: %s\n", res.ID, b.Name, b.What)
		}
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
