package web

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/idv-dev/idv"
)

// The web tests' doubles, all here: a sealer, a queue, a result store, an
// object store and a log buffer. The integration tests in cmd/idv run the
// same flows against PostgreSQL, Redis, S3 and the real sealer.

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

// fakeObjects is an object store whose URLs are
// https://objects.test/bucket/<key>?sig=...; the real adapters are tested
// in package objects.
type fakeObjects struct {
	mu sync.Mutex
	m  map[string][]byte
}

const fakeObjectsBase = "https://objects.test/bucket/"

func (f *fakeObjects) PresignPut(_ context.Context, key string, _ time.Duration) (string, error) {
	return fakeObjectsBase + key + "?sig=abc", nil
}

func (f *fakeObjects) Put(_ context.Context, key string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]byte{}
	}
	f.m[key] = append([]byte(nil), data...)
	return nil
}

func (f *fakeObjects) Get(_ context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.m[key]
	if !ok {
		return nil, idv.ErrNotFound
	}
	return b, nil
}

func (f *fakeObjects) Delete(_ context.Context, key string) error { return nil }

func (f *fakeObjects) KeyFromURL(raw string) (string, error) {
	k, ok := strings.CutPrefix(raw, fakeObjectsBase)
	if !ok {
		return "", idv.Errorf(idv.EINVALID, "not a URL of this store")
	}
	k, _, _ = strings.Cut(k, "?")
	return k, nil
}

// logBuffer collects log lines written from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
