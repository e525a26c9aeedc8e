package results_test

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv/results"
)

func TestHub(t *testing.T) {
	t.Parallel()
	var h results.Hub
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a1, a2, b := h.Wait(ctx, "a"), h.Wait(ctx, "a"), h.Wait(ctx, "b")

	// Wakes never block, and pending wake-ups collapse into one.
	h.Wake("a")
	h.Wake("a")
	h.Wake("nobody")
	for _, ch := range []<-chan struct{}{a1, a2} {
		if n := drain(ch); n != 1 {
			t.Fatalf("waiter of a got %d wake-ups, want 1", n)
		}
	}
	if n := drain(b); n != 0 {
		t.Fatalf("waiter of b got %d wake-ups, want 0", n)
	}

	h.WakeAll()
	for _, ch := range []<-chan struct{}{a1, a2, b} {
		if n := drain(ch); n != 1 {
			t.Fatalf("WakeAll: %d wake-ups, want 1", n)
		}
	}

	if got := h.Waiting(); got != 3 {
		t.Fatalf("Waiting = %d, want 3", got)
	}
	cancel()
	for _, ch := range []<-chan struct{}{a1, a2, b} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatal("received instead of closing")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not closed after cancel")
		}
	}
	if got := h.Waiting(); got != 0 {
		t.Fatalf("Waiting = %d after cancel, want 0", got)
	}
	h.Wake("a") // no waiters, no panic
	h.WakeAll()
}

func drain(ch <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}
