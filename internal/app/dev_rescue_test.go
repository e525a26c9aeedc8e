package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/telemetry"
)

type nopHandler struct{}

func (nopHandler) Handle(context.Context, idv.Job) error { return nil }

// `idv dev` runs on SQLite, which has no heartbeat rescue: River's rescuer
// alone re-runs a job a kill -9 left running, so its threshold is the
// longest job timeout plus 2 s (62 s) instead of the 75 s sized for
// PostgreSQL. It still exceeds every job timeout, and the queue starts
// workers with it.
func TestDevRescueAfter(t *testing.T) {
	t.Parallel()
	def := config.Defaults().Jobs.RescueAfter
	got := devRescueAfter(def)
	if got != 62*time.Second {
		t.Errorf("dev rescue_after = %s, want 62s", got)
	}
	if got >= def {
		t.Errorf("dev rescue_after %s is not shorter than the default %s", got, def)
	}
	for kind, d := range jobTimeouts {
		if got <= d {
			t.Errorf("dev rescue_after %s does not exceed the %s timeout %s: a live job would run twice", got, kind, d)
		}
	}
	if kept := devRescueAfter(90 * time.Second); kept != 90*time.Second {
		t.Errorf("a configured jobs.rescue_after of 90s became %s", kept)
	}

	// The dev worker configuration, as StartDev builds it, on a real
	// SQLite queue: StartWorkers validates it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := config.Defaults()
	cfg.Jobs.RescueAfter = devRescueAfter(cfg.Jobs.RescueAfter)
	log := slog.New(slog.DiscardHandler)
	q, err := openDevQueue(ctx, filepath.Join(t.TempDir(), "jobs.sqlite"), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c := &Components{Config: cfg, Log: log, Queue: q, Metrics: telemetry.NewMetrics()}
	wc := c.WorkerConfig(map[idv.JobKind]idv.JobHandler{
		idv.JobResolution: nopHandler{}, idv.JobAddress: nopHandler{}, idv.JobDocument: nopHandler{},
	})
	if wc.RescueAfter != 62*time.Second {
		t.Errorf("dev WorkerConfig.RescueAfter = %s, want 62s", wc.RescueAfter)
	}
	for kind, d := range wc.Timeouts {
		if wc.RescueAfter <= d {
			t.Errorf("RescueAfter %s <= %s timeout %s", wc.RescueAfter, kind, d)
		}
	}
	w, err := q.StartWorkers(ctx, wc)
	if err != nil {
		t.Fatalf("the queue refuses the dev worker configuration: %v", err)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
