package queue

import (
	"testing"
	"time"

	"github.com/idv-dev/idv"
)

// Stats reports how long the oldest available job has waited, on SQLite as
// on PostgreSQL (TestPingAndStats): River's own time columns are read.
func TestSQLiteStatsOldestAvailable(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	if err := q.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cs, job := newAttempt(idv.JobDocument)
		if err := q.Submit(ctx(t), cs, job); err != nil {
			t.Fatal(err)
		}
	}
	stats, err := q.Stats(ctx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	doc := stats[idv.JobDocument.Queue()]
	if doc.Available != 2 || doc.OldestAvailable <= 0 || doc.OldestAvailable > time.Minute {
		t.Errorf("document queue: %+v, want 2 available waiting a moment", doc)
	}
	if res := stats[idv.JobResolution.Queue()]; res.OldestAvailable != 0 {
		t.Errorf("empty queue: %+v", res)
	}
}
