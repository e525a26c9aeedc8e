// Command idv is the identity-verification service: one binary, deployed as
// separate roles (web, worker) from the same code, plus an all-in-one
// development mode, the vendor simulators, migrations and benchmarks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"dev", "run everything in one process with embedded defaults (SQLite, in-memory results, simulators)", runDev},
	{"web", "serve the pages, polling, enqueue and health endpoints", runWeb},
	{"worker", "claim and run proofing jobs", runWorker},
	{"vendors", "serve the vendor simulators over HTTP", runVendors},
	{"migrate", "apply the database schema (River's and idv's)", runMigrate},
	{"keys", "init, show or rotate the local key file; rotate-signing: a new receipt signing key; rotate-image: a new image key", runKeys},
	{"rp", "manage relying parties: create, list, rotate-key, disable", runRP},
	{"webhooks", "replay a webhook event", runWebhooks},
	{"bench", "run the benchmarks B1-B6 against the configured PostgreSQL and Redis; print a table, write JSON", runBench},
	{"storage", "create the document bucket and set its CORS rule for browser uploads", runStorage},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "idv:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `idv verifies people's identity; vendor checks run in background workers.

Usage:
  idv <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'idv <command> --help' for a command's flags. Every setting can also be
given in the YAML file passed with --config or as an IDV_ environment
variable (jobs.stale_after = IDV_JOBS_STALE_AFTER); see docs/configuration.md.
`)
}
