package testenv

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// Logger returns a logger for the code under test and the log it writes: JSON
// lines at every level, kept in memory so the test can read them (to scan for
// canaries, or to check a line's fields). The log is printed with the test's
// output if the test fails. Lines written after the test ended, by goroutines
// still winding down, are kept and cannot fail the test binary.
func Logger(tb testing.TB) (*slog.Logger, *Log) {
	tb.Helper()
	l := &Log{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("the code under test logged:\n%s", l.String())
		}
	})
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

// Log is an in-memory log safe for concurrent writers: a server's goroutines,
// River's, a subprocess's output. The zero value is ready to use.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
