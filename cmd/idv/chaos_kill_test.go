package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestChaosKillWorkerMidJob SIGKILLs a worker process with a person's job
// running, 20 times. A second worker stays alive throughout and, by the
// liveness rescue (queue/liveness.go), re-runs each lost job once the dead
// worker's heartbeat is jobs.heartbeat_timeout (10 s) old. Every attempt ends
// as the outcome the person's own input implies, or as missing; no job stays
// running; none is delivered twice.
func TestChaosKillWorkerMidJob(t *testing.T) {
	t.Parallel()
	const rounds = 20
	pe := setupProduction(t)
	// Slow vendors, so a job is mid-run (in a vendor call) when it is
	// killed; a generous vendor timeout, so the latency is not a timeout.
	slow := start(t, []string{"IDV_VENDORS_SIMULATOR_LATENCY=1500ms"}, "vendors", "vendors", "--addr", "127.0.0.1:0")
	env := slices.Concat(pe.env, []string{"IDV_VENDORS_BASE_URL=" + slow.waitURL(t), "IDV_VENDORS_RESOLUTION_TIMEOUT=10s"})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	survivor := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	survivor.waitURL(t)
	rp := newRP(t, env, base, stepsWithoutDocument)
	t.Cleanup(func() { _ = survivor.cmd.Process.Signal(syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	type round struct {
		want, got        string
		jobID            int64
		killed, resolved time.Time
	}
	rs := make([]round, rounds)
	var killedProcs []*proc
	var people sync.WaitGroup
	// A round whose job another worker took (seen about once in 60 rounds)
	// kills nothing mid-job: it is run again, a bounded number of times, so
	// that every one of the rounds kills the worker holding the job.
	const maxRedos = 5
	redos := 0
rounds:
	for i := 0; i < rounds; i++ {
		r := &rs[i]
		form, want := chaosPerson(1, i)
		r.want = want
		w := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
		w.waitURL(t)
		killedProcs = append(killedProcs, w)
		holder := fmt.Sprintf("%%\\_%d\\_%%", w.cmd.Process.Pid) // River client id: host_PID_random
		p := rp.person(t)
		// The survivor pauses while the job is handed out, so that this
		// round's worker is the one that takes it.
		if err := survivor.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if s := submit(p, "/verify/verify_info", form); s != "" {
			t.Fatalf("round %d: %s", i, s)
		}
		// Rounds submit one at a time, so the newest job is this person's.
		if err := db.QueryRow(ctx, `SELECT max(id) FROM river_job WHERE kind = 'resolution_proofing'`).Scan(&r.jobID); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			var state string
			var mine bool
			if err := db.QueryRow(ctx, `SELECT state::text, coalesce(attempted_by[array_length(attempted_by, 1)] LIKE $2, false)
				FROM river_job WHERE id = $1`, r.jobID, holder).Scan(&state, &mine); err != nil {
				t.Fatal(err)
			}
			if state == "running" && mine {
				break
			}
			if state == "running" && redos < maxRedos {
				redos++
				t.Logf("round %d: job %d was taken by another worker; running the round again", i, r.jobID)
				_ = w.cmd.Process.Kill()
				_ = w.wait()
				if err := survivor.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				i--
				continue rounds
			}
			if state != "available" || time.Now().After(deadline) {
				t.Fatalf("round %d: job %d is %s (held by this round's worker: %v), want it running on that worker", i, r.jobID, state, mine)
			}
			time.Sleep(10 * time.Millisecond) // polling the jobs table
		}
		if err := w.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = w.wait()
		r.killed = time.Now()
		if err := survivor.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		people.Go(func() {
			r.got = awaitOutcome(p, "/verify/verify_info", r.killed.Add(90*time.Second))
			r.resolved = time.Now()
		})
	}
	people.Wait()

	// No job stays running: every one ends completed (re-run) or discarded.
	var open int
	for deadline := time.Now().Add(60 * time.Second); ; {
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'resolution_proofing'
			AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the jobs table
	}
	if open != 0 {
		t.Errorf("%d jobs still not finished a minute after the people were answered", open)
	}

	finished := finishedJobs(append(killedProcs, survivor)...)
	var inWindow, liveness, stuckRescuer int
	var waits []time.Duration
	for i, r := range rs {
		var state string
		var attempt int
		var lost, stuck bool
		if err := db.QueryRow(ctx, `SELECT state::text, attempt, errors::text LIKE '%worker lost (no heartbeat)%',
			errors::text LIKE '%Stuck job rescued%' FROM river_job WHERE id = $1`, r.jobID).Scan(&state, &attempt, &lost, &stuck); err != nil {
			t.Fatal(err)
		}
		if lost {
			liveness++
		}
		if stuck {
			stuckRescuer++
		}
		switch r.got {
		case r.want:
			inWindow++
			waits = append(waits, r.resolved.Sub(r.killed))
		case seenMissing:
		default:
			t.Errorf("round %d: the person saw %q, want %q or %q", i, r.got, r.want, seenMissing)
		}
		if state != "completed" && state != "discarded" {
			t.Errorf("round %d: job %d ended %s", i, r.jobID, state)
		}
		if finished[r.jobID] > 1 {
			t.Errorf("round %d: job %d finished %d times", i, r.jobID, finished[r.jobID])
		}
		if state == "completed" && finished[r.jobID] != 1 {
			t.Errorf("round %d: job %d completed but logged %d finished runs", i, r.jobID, finished[r.jobID])
		}
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	summary := fmt.Sprintf("%d/%d killed attempts (%.0f%%) were re-run and answered inside the 60 s window; %d rescued by heartbeat, %d by River's rescuer",
		inWindow, rounds, 100*float64(inWindow)/rounds, liveness, stuckRescuer)
	if len(waits) > 0 {
		summary += fmt.Sprintf("; kill to outcome page: median %s, max %s",
			waits[len(waits)/2].Round(100*time.Millisecond), waits[len(waits)-1].Round(100*time.Millisecond))
	}
	t.Log(summary)
	if liveness == 0 {
		t.Error("no job was rescued by the liveness rescue")
	}
}
