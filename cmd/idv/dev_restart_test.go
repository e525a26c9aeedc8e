package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
)

var statusURLRE = regexp.MustCompile(`data-status-url="([^"]+)"`)

// Issue 13: after kill -9 and a restart of `idv dev`, a person whose
// document check was in flight silently started over (the sessions were in
// memory). The sessions now live in the SQLite file: the person comes back
// to their verification, and the attempt ends as "taking longer than
// usual", given back, with the capture form for a new one.
func TestDevRestartEndsTheAttemptInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Both runs on one address: the person's cookie is for that origin.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	// A slow document vendor keeps the check in flight until the kill.
	env := []string{"IDV_VENDORS_SIMULATOR_LATENCY=20s"}
	first := start(t, env, "web", "dev", "--addr", addr, "--data", dir)
	base := first.waitURL(t)

	p := devPerson(t, base)
	photo := testenv.PNG(t, 64, 40)
	stored := func(key string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, "objects", "objects", key)) }
	form := p.uploadDocument(stored, docUpload{front: photo, back: photo})
	if code, loc, body := p.do("POST", "/verify/document_capture", form); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("submit: %d %q %.300s", code, loc, body)
	}
	code, _, body := p.do("GET", "/verify/document_capture", nil)
	status := statusURLRE.FindStringSubmatch(body)
	if code != 200 || status == nil {
		t.Fatalf("waiting page: %d %.400s", code, body)
	}

	if err := first.cmd.Process.Kill(); err != nil { // kill -9
		t.Fatal(err)
	}
	_ = first.wait()
	second := start(t, env, "web", "dev", "--addr", addr, "--data", dir)
	if got := second.waitURL(t); got != base {
		t.Fatalf("restarted at %s, want %s", got, base)
	}

	// The waiting page's poll says the attempt is over; the page then
	// shows the capture form, saying it took too long.
	if code, _, body := p.do("GET", status[1], nil); code != 200 || !strings.Contains(body, `"missing"`) {
		t.Fatalf("status after the restart: %d %.300s", code, body)
	}
	code, loc, body := p.do("GET", "/verify/document_capture", nil)
	if code != 200 || !strings.Contains(body, "taking longer than usual") || !captureIDRE.MatchString(body) {
		t.Fatalf("after the restart: %d %q, want the capture form saying the check took too long: %.600s", code, loc, body)
	}
	// The verification says so: nothing in flight, the attempt given back.
	db, err := queue.OpenSQLite(context.Background(), filepath.Join(dir, "jobs.sqlite"), queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	vs, _, err := db.ListVerifications(context.Background(), app.DemoRPID, queue.ListFilter{})
	db.Close()
	if err != nil || len(vs) != 1 {
		t.Fatalf("verifications: %d, %v", len(vs), err)
	}
	if rec, _ := vs[0].Step(idv.StepDocument); rec.InFlight != "" || rec.Attempts != 0 || rec.Status != idv.StepPending {
		t.Fatalf("document step after the restart: %+v, want pending, nothing in flight, no attempt counted", rec)
	}
	// The person is still on their verification: a new attempt goes.
	form = p.uploadDocument(stored, docUpload{front: photo, back: photo})
	if code, loc, body := p.do("POST", "/verify/document_capture", form); code != 303 || loc != "/verify/document_capture" {
		t.Fatalf("new attempt after the restart: %d %q %.300s", code, loc, body)
	}
}
