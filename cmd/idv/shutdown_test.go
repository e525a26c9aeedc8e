package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestWorkerFinishesJobOnSIGTERM: a worker told to stop while a job runs
// stops taking work, finishes the job (the person gets the result) and exits 0.
func TestWorkerFinishesJobOnSIGTERM(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1500ms"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	slowURL := slow.waitURL(t)
	env := append(pe.env, "IDV_VENDORS_BASE_URL="+slowURL, "IDV_VENDORS_RESOLUTION_TIMEOUT=10s")
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	p := newRP(t, env, web.waitURL(t), stepsWithoutDocument).person(t)
	worker.waitURL(t)

	conn, err := pgx.Connect(context.Background(), pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if code, _, _ := p.do("POST", "/verify/verify_info", canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); code != 303 {
		t.Fatalf("submit: %d", code)
	}
	// Wait (bounded) until the job is running, then ask the worker to stop.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var running int
		_ = conn.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE state = 'running'").Scan(&running)
		if running == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never started")
		}
		time.Sleep(10 * time.Millisecond) // polling the jobs table
	}
	if err := worker.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit: %v\n%s", err, worker.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not exit after SIGTERM")
	}
	out := worker.out.String()
	stopping, finished := strings.Index(out, `"msg":"worker stopping`), strings.Index(out, `"msg":"job finished"`)
	if stopping < 0 || finished < stopping {
		t.Fatalf("the job running at SIGTERM did not finish after the stop began:\n%s", out)
	}
	if _, _, body := p.do("GET", "/verify/verify_info/status", nil); !strings.Contains(body, `"done"`) {
		t.Fatalf("status after shutdown: %s", body)
	}
	// The web server, too, stops cleanly on SIGTERM.
	if err := web.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	webDone := make(chan error, 1)
	go func() { webDone <- web.wait() }()
	select {
	case err := <-webDone:
		if err != nil {
			t.Fatalf("web exit: %v\n%s", err, web.out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("web did not exit after SIGTERM")
	}
}
