package fake_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
)

func TestObjectStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &fake.ObjectStore{}
	key := idv.DocumentImageKey(idv.NewID(), idv.SideFront)

	if _, err := s.Get(ctx, key); !errors.Is(err, idv.ErrNotFound) {
		t.Fatalf("Get of a key never put: %v, want ErrNotFound", err)
	}
	data := []byte("image")
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X' // the store keeps its own copy
	got, err := s.Get(ctx, key)
	if err != nil || !bytes.Equal(got, []byte("image")) {
		t.Fatalf("Get = %q, %v; want the bytes put", got, err)
	}
	if err := s.Put(ctx, key, make([]byte, idv.MaxImageBytes+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key); idv.ErrorCode(err) != idv.EINVALID {
		t.Fatalf("Get of an oversized object: %v, want EINVALID", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, idv.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if d := s.Deleted(); len(d) != 1 || d[0] != key {
		t.Fatalf("Deleted = %v, want [%s]", d, key)
	}

	u, err := s.PresignPut(ctx, key, 100, time.Minute)
	if err != nil || u != fake.ObjectURL(key) {
		t.Fatalf("PresignPut = %q, %v; want %q", u, err, fake.ObjectURL(key))
	}
	if k, err := s.KeyFromURL(u); err != nil || k != key {
		t.Fatalf("KeyFromURL(%q) = %q, %v; want %q", u, k, err, key)
	}
	for _, foreign := range []string{"https://elsewhere.test/bucket/" + key, "http://objects.test/bucket/" + key, key, ""} {
		if k, err := s.KeyFromURL(foreign); idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("KeyFromURL(%q) = %q, %v; want EINVALID", foreign, k, err)
		}
	}
}
