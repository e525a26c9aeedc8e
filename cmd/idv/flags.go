package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/telemetry"
)

// commonFlags are the flags every serving command takes.
type commonFlags struct {
	fs         *flag.FlagSet
	configPath string
	addr       string
	opsAddr    string
	logLevel   string
}

func newFlags(name, synopsis string, stdout io.Writer, withAddr bool, addrHelp string) *commonFlags {
	c := &commonFlags{fs: flag.NewFlagSet("idv "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stdout)
	c.fs.StringVar(&c.configPath, "config", os.Getenv("IDV_CONFIG"), "YAML configuration `FILE` (env IDV_CONFIG); IDV_ variables override it")
	if withAddr {
		c.fs.StringVar(&c.addr, "addr", "", "listen on `HOST:PORT` ("+addrHelp+")")
		levelHelp := "log.level, info"
		if name == "dev" {
			levelHelp = "warn, so the terminal stays readable; log.level or IDV_LOG_LEVEL when set"
		}
		c.fs.StringVar(&c.logLevel, "log-level", "", "log at `LEVEL` and above: debug, info, warn or error (default "+levelHelp+")")
	}
	c.fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: idv %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		c.fs.PrintDefaults()
	}
	return c
}

// withOpsAddr adds --ops-addr, the operations listener of `idv web`.
func (c *commonFlags) withOpsAddr() *commonFlags {
	c.fs.StringVar(&c.opsAddr, "ops-addr", "", "serve /metrics and the health endpoints on `HOST:PORT` (default web.ops_addr, 127.0.0.1:9091; keep it private)")
	return c
}

// load parses args and loads the configuration.
func (c *commonFlags) load(args []string) (config.Config, error) {
	if err := c.fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if c.fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected arguments: %v", c.fs.Args())
	}
	return config.Load(c.configPath, os.Environ())
}

// setup parses args, puts --addr (if given) where addr points, validates the
// configuration for role and opens the log: the start of every serving role.
func (c *commonFlags) setup(args []string, role config.Role, addr func(*config.Config) *string, stdout io.Writer) (config.Config, *slog.Logger, func(), error) {
	cfg, err := c.load(args)
	if err != nil {
		return cfg, nil, nil, err
	}
	if c.addr != "" && addr != nil {
		*addr(&cfg) = c.addr
	}
	if c.opsAddr != "" {
		cfg.Web.OpsAddr = c.opsAddr
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	if err := cfg.Validate(role); err != nil {
		return cfg, nil, nil, err
	}
	log, closeLog, err := logger(cfg, stdout)
	return cfg, log, closeLog, err
}

// logger opens the configured log destination.
func logger(cfg config.Config, stdout io.Writer) (*slog.Logger, func(), error) {
	level, err := telemetry.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, nil, err
	}
	// Libraries that log through slog's default logger (zitadel/oidc's
	// op package) write through the same PII-redacting handler.
	if cfg.Log.File == "" || cfg.Log.File == "-" {
		l := telemetry.NewLogger(stdout, level)
		slog.SetDefault(l)
		return l, func() {}, nil
	}
	f, err := telemetry.OpenLog(cfg.Log.File)
	if err != nil {
		return nil, nil, err
	}
	l := telemetry.NewLogger(f, level)
	slog.SetDefault(l)
	return l, func() { _ = f.Close() }, nil
}
