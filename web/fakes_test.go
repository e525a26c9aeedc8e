package web

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/idv-dev/idv"
)

// Fakes for the state-machine tests. The integration tests in cmd/idv run
// the same flows against PostgreSQL, Redis and the real sealer.

type fakeSealer struct{}

func (fakeSealer) Seal(_ context.Context, p, aad []byte) ([]byte, error) {
	return append(append([]byte("sealed|"), aad...), append([]byte("|"), p...)...), nil
}

func (fakeSealer) Open(_ context.Context, c, aad []byte) ([]byte, error) {
	prefix := append(append([]byte("sealed|"), aad...), '|')
	if !bytes.HasPrefix(c, prefix) {
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value failed authentication")
	}
	return c[len(prefix):], nil
}

type fakeQueue struct {
	mu       sync.Mutex
	sessions map[string]idv.CaptureSession
	jobs     []idv.Job
	err      error
}

func newFakeQueue() *fakeQueue { return &fakeQueue{sessions: map[string]idv.CaptureSession{}} }

func (q *fakeQueue) Submit(_ context.Context, cs idv.CaptureSession, job idv.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.sessions[cs.ID] = cs
	q.jobs = append(q.jobs, job)
	return nil
}

func (q *fakeQueue) CaptureSession(_ context.Context, id string) (idv.CaptureSession, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return idv.CaptureSession{}, q.err
	}
	cs, ok := q.sessions[id]
	if !ok {
		return cs, idv.ErrNotFound
	}
	return cs, nil
}

func (q *fakeQueue) Jobs() []idv.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]idv.Job(nil), q.jobs...)
}

type fakeResults struct {
	mu      sync.Mutex
	values  map[string][]byte
	waiters map[string][]chan struct{}
}

func newFakeResults() *fakeResults {
	return &fakeResults{values: map[string][]byte{}, waiters: map[string][]chan struct{}{}}
}

func (f *fakeResults) Store(_ context.Context, id string, r idv.AsyncResult) error {
	b, _ := json.Marshal(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[id] = b
	for _, c := range f.waiters[id] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	return nil
}

func (f *fakeResults) Load(_ context.Context, id string) (idv.AsyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.values[id]
	if !ok {
		return idv.AsyncResult{}, idv.ErrNotFound
	}
	if !json.Valid(b) {
		return idv.AsyncResult{}, idv.Errorf(idv.ETAMPERED, "stored result failed authentication")
	}
	var r idv.AsyncResult
	err := json.Unmarshal(b, &r)
	return r, err
}

func (f *fakeResults) Changed(ctx context.Context, id string) <-chan struct{} {
	c := make(chan struct{}, 1)
	f.mu.Lock()
	f.waiters[id] = append(f.waiters[id], c)
	f.mu.Unlock()
	return c
}

func (f *fakeResults) expire(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.values, id)
}

func (f *fakeResults) corrupt(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[id] = []byte("garbage")
}
