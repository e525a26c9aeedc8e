package fake

import (
	"context"
	"slices"
	"sync"

	"github.com/idv-dev/idv"
)

// Queue is an idv.Queue that records what is submitted and runs nothing, for
// tests of the web tier that read the jobs it enqueued (the real queue is
// tested against PostgreSQL and SQLite in package queue). The zero value is
// ready to use.
type Queue struct {
	// SubmitFn, when set, answers Submit and nothing is recorded (a queue
	// that is down).
	SubmitFn func(ctx context.Context, cs idv.CaptureSession, job idv.Job) error
	// CaptureSessionFn, when set, answers CaptureSession.
	CaptureSessionFn func(ctx context.Context, id string) (idv.CaptureSession, error)

	mu       sync.Mutex
	sessions map[string]idv.CaptureSession
	jobs     []idv.Job
}

var _ idv.Queue = (*Queue)(nil)

// Submit records cs and job.
func (q *Queue) Submit(ctx context.Context, cs idv.CaptureSession, job idv.Job) error {
	if q.SubmitFn != nil {
		return q.SubmitFn(ctx, cs, job)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sessions == nil {
		q.sessions = map[string]idv.CaptureSession{}
	}
	q.sessions[cs.ID] = cs
	q.jobs = append(q.jobs, job)
	return nil
}

// CaptureSession returns the recorded session with id, or idv.ErrNotFound.
func (q *Queue) CaptureSession(ctx context.Context, id string) (idv.CaptureSession, error) {
	if q.CaptureSessionFn != nil {
		return q.CaptureSessionFn(ctx, id)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	cs, ok := q.sessions[id]
	if !ok {
		return idv.CaptureSession{}, idv.ErrNotFound
	}
	return cs, nil
}

// Jobs returns the submitted jobs, oldest first.
func (q *Queue) Jobs() []idv.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.jobs)
}
