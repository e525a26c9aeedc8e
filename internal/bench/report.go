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
	Target  *Target        `json:"target,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	Error   string         `json:"error,omitempty"`
	Seconds float64        `json:"seconds"`
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

// Target is the bar of the issue and whether this run met it.
type Target struct {
	Text string `json:"text"`
	Met  bool   `json:"met"`
}

func (r *Result) metric(name string, value float64, unit string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		value = 0
	}
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: value, Unit: unit})
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
