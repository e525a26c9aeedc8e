package jobs

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

// recordingResults is a result store that remembers what was stored.
type recordingResults struct {
	idv.ResultStore
	mu     sync.Mutex
	stored []idv.AsyncResult
}

func (r *recordingResults) Store(ctx context.Context, id string, v idv.AsyncResult) error {
	r.mu.Lock()
	r.stored = append(r.stored, v)
	r.mu.Unlock()
	return r.ResultStore.Store(ctx, id, v)
}

// stateIDProofer sees what the result store holds while the state ID check
// runs.
type stateIDProofer struct {
	store idv.ResultStore
	id    string
	seen  idv.AsyncResult
}

func (p *stateIDProofer) ProofStateID(ctx context.Context, _ idv.Applicant) idv.VendorResult {
	p.seen, _ = p.store.Load(ctx, p.id)
	return idv.VendorResult{Success: true}
}

// TestResolutionReportsItsStage: before the state ID check the job marks
// the attempt in progress at stage state_id, which the waiting page shows;
// the first check needs no write (the page assumes it), a job that stops
// after it writes none, and neither does a job quicker than ProgressAfter.
func TestResolutionReportsItsStage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		after      time.Duration
		resolution idv.VendorResult
		want       []idv.AsyncResult
	}{
		{"both checks", -1, idv.VendorResult{Success: true}, []idv.AsyncResult{{Status: idv.StatusInProgress, Stage: "state_id"}, {Status: idv.StatusDone}}},
		{"resolution timed out", -1, idv.VendorResult{TimedOut: true}, []idv.AsyncResult{{Status: idv.StatusDone}}},
		{"quicker than a person reads", time.Hour, idv.VendorResult{Success: true}, []idv.AsyncResult{{Status: idv.StatusDone}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &recordingResults{ResultStore: newResults(t)}
			job := newJob(t, time.Now(), idv.Applicant{FirstName: "Stagey"})
			sp := &stateIDProofer{store: store, id: job.ResultID}
			h := &Resolution{Runner: &Runner{Sealer: fake.Sealer{}, Results: store, Logger: slog.New(slog.DiscardHandler), ProgressAfter: tc.after},
				Resolution: &fixedProofer{res: tc.resolution}, StateID: sp}
			if err := h.Handle(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			if len(store.stored) != len(tc.want) {
				t.Fatalf("stored %+v, want %+v", store.stored, tc.want)
			}
			for i, w := range tc.want {
				if got := store.stored[i]; got.Status != w.Status || got.Stage != w.Stage {
					t.Fatalf("write %d: %+v, want %+v", i, got, w)
				}
			}
			if len(tc.want) == 2 && sp.seen.Stage != "state_id" {
				t.Fatalf("during the state ID check the store held %+v", sp.seen)
			}
		})
	}
}
