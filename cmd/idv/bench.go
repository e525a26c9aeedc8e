package main

import (
	"context"
	"io"
	"strings"

	"github.com/idv-dev/idv/internal/bench"
)

// runBench is `idv bench`: its flags set internal/bench's settings.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := bench.DefaultSettings()
	f := newFlags("bench", `Run the benchmarks of DESIGN.md section 6 against the configured PostgreSQL (database_url;
each benchmark in a fresh schema, dropped afterwards) and Redis (under a key prefix of its own,
deleted afterwards), print a table and write JSON. Everything else (web tier, workers, vendor
simulators, S3 for B4) runs in this process on loopback. Targets are reported, not asserted.

  B1 worker throughput: resolution jobs/s through River and the real job code (sealed
     arguments, a zero-latency in-process vendor, Redis result writes), beside two River
     no-op baselines in the same run: as River's own benchmark runs it (the headline ratio),
     and through idv's queue package with idv's worker count.
  B2 added latency: open-loop arrivals through the HTTP flow (POST verify_info, long-poll the
     status as the page does) with simulated vendor latency: result visible - submit - vendor
     latency (counted twice: resolution, then state ID).
  B3 poll capacity: status checks/s on /verify/verify_info/status for finished attempts,
     beside plain Redis GETs of the result's size from as many connections.
  B4 image path: document jobs with two encrypted images through S3: decrypt rate and overhead.
  B5 relying-party latency: verifications created per second through the API over HTTP, then
     people walking them (identity, phone) with zero-latency vendors while a loopback receiver
     checks each webhook's signature: webhook received - state change, and - the last submit.
  B6 slot cliff: open-loop people (a document job, then a resolution job) on several worker
     processes whose jobs wait on simulated vendor latency, old slot defaults versus sized:
     time to result and share of people reaching "missing" (no result within 60 s).`, stdout, false, "")
	fs := f.fs
	fs.StringVar(&o.Only, "only", "", "comma-separated `LIST` of benchmarks to run (default all), e.g. B1,B3,B5")
	fs.StringVar(&o.JSONPath, "json", "", "write results to `FILE` (default bench-<timestamp>.json)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to `FILE`")
	fs.StringVar(&o.LogPath, "log", "", "write the service log lines to `FILE` (default: formatted, then discarded)")
	fs.IntVar(&o.B1Jobs, "b1-jobs", o.B1Jobs, "B1: `N` jobs per run (idv and River no-op through the queue package)")
	fs.IntVar(&o.B1Workers, "b1-workers", o.B1Workers, "B1: concurrent workers (River MaxWorkers), the same for both runs")
	fs.IntVar(&o.B1RiverBench.Jobs, "b1-river-bench-jobs", o.B1RiverBench.Jobs, "B1: `N` no-op jobs of the baseline run as River's benchmark runs it (burn-down)")
	fs.IntVar(&o.B1Rounds, "b1-rounds", o.B1Rounds, "B1: `N` rounds, each draining idv's queue unbound and bound (the order alternating); the ratio is their median")
	fs.IntVar(&o.B1Submitters, "b1-submitters", o.B1Submitters, "B1: concurrent submitters filling the queue before the workers start")
	fs.IntVar(&o.B2Rate, "b2-rate", o.B2Rate, "B2: arrivals per second")
	fs.DurationVar(&o.B2Duration, "b2-duration", o.B2Duration, "B2: how long arrivals go on")
	fs.DurationVar(&o.B2Latency, "b2-latency", o.B2Latency, "B2: simulated latency of each vendor call")
	fs.IntVar(&o.B2Workers, "b2-workers", o.B2Workers, "B2: resolution workers")
	fs.DurationVar(&o.B3Duration, "b3-duration", o.B3Duration, "B3: how long clients poll (at most 40s: results live 60s)")
	fs.IntVar(&o.B3Clients, "b3-clients", o.B3Clients, "B3: concurrent clients, each on its own keep-alive connection")
	fs.IntVar(&o.B3Sessions, "b3-sessions", o.B3Sessions, "B3: people (sessions with a finished attempt) the clients poll for")
	fs.IntVar(&o.B4Jobs, "b4-jobs", o.B4Jobs, "B4: document jobs")
	fs.IntVar(&o.B4ImageSize, "b4-image-bytes", o.B4ImageSize, "B4: size of each of the two images")
	fs.IntVar(&o.B4Workers, "b4-workers", o.B4Workers, "B4: document workers")
	fs.IntVar(&o.B5Creates, "b5-creates", o.B5Creates, "B5: `N` verifications created through the API (the people walk the first of them)")
	fs.IntVar(&o.B5APIClients, "b5-api-clients", o.B5APIClients, "B5: concurrent API clients creating verifications")
	fs.IntVar(&o.B5Rate, "b5-rate", o.B5Rate, "B5: people arriving per second")
	fs.DurationVar(&o.B5Duration, "b5-duration", o.B5Duration, "B5: how long people arrive")
	fs.BoolVar(&o.B5Phone, "b5-phone", o.B5Phone, "B5: people walk the phone step after identity")
	fs.IntVar(&o.B6Rate, "b6-rate", o.B6Rate, "B6: people arriving per second")
	fs.DurationVar(&o.B6Duration, "b6-duration", o.B6Duration, "B6: how long people arrive")
	fs.DurationVar(&o.B6DocLatency, "b6-document-latency", o.B6DocLatency, "B6: simulated document vendor latency")
	fs.DurationVar(&o.B6ResLatency, "b6-resolution-latency", o.B6ResLatency, "B6: simulated resolution vendor latency (resolution and state ID together)")
	fs.IntVar(&o.B6Processes, "b6-processes", o.B6Processes, "B6: worker processes (each its own queue and pool)")
	fs.IntVar(&o.B6Scale, "b6-scale", o.B6Scale, "B6: divide latencies, the result window and the arrival span by `K` and multiply the rate by K")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	o.Command = strings.Join(append([]string{"idv", "bench"}, args...), " ")
	return bench.Run(ctx, cfg, o, stdout, stderr)
}
