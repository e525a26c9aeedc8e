package results_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/results"
	"github.com/idv-dev/idv/results/memory"
	"github.com/idv-dev/idv/results/resultstest"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ttl     time.Duration
		wantErr bool
	}{
		{0, false},
		{time.Second, false},
		{90 * time.Second, false},
		{-time.Second, true},
		{500 * time.Millisecond, true},
		{1500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		_, err := results.New(memory.NewKV(nil), fake.Sealer{}, results.Options{TTL: tc.ttl})
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("TTL %s: error = %v, want error %v", tc.ttl, err, tc.wantErr)
		}
		if err != nil && idv.ErrorCode(err) != idv.EINVALID {
			t.Errorf("TTL %s: code = %s, want %s", tc.ttl, idv.ErrorCode(err), idv.EINVALID)
		}
	}
}

// TestSealedAtRest checks that the backend receives only ciphertext.
func TestSealedAtRest(t *testing.T) {
	t.Parallel()
	kv := memory.NewKV(nil)
	s, err := results.New(kv, fake.Sealer{}, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := idv.NewID()
	if err := s.Store(context.Background(), id, resultstest.DoneWithCanary()); err != nil {
		t.Fatal(err)
	}
	raw, err := kv.Get(context.Background(), s.Key(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(resultstest.CanaryValues(), `"status"`, "done") {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("stored bytes contain %q", v)
		}
	}
}

// TestSealerErrors checks how sealer failures are coded: a key service that
// is down stays EUNAVAILABLE (try again), anything uncoded on Open counts as
// tampering, and the sealer's error stays in the chain for operators.
func TestSealerErrors(t *testing.T) {
	t.Parallel()
	plain := errors.New("cipher: message authentication failed")
	tests := []struct {
		name      string
		err       error
		storeCode string
		loadCode  string
	}{
		{"key service down", idv.Errorf(idv.EUNAVAILABLE, "kms unavailable"), idv.EUNAVAILABLE, idv.EUNAVAILABLE},
		{"tampered", idv.Errorf(idv.ETAMPERED, "bad tag"), idv.ETAMPERED, idv.ETAMPERED},
		{"uncoded", plain, idv.EINTERNAL, idv.ETAMPERED},
		{"internal", idv.Errorf(idv.EINTERNAL, "bug"), idv.EINTERNAL, idv.ETAMPERED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kv := memory.NewKV(nil)
			failing := fake.Sealer{
				SealFn: func(context.Context, []byte, []byte) ([]byte, error) { return nil, tc.err },
				OpenFn: func(context.Context, []byte, []byte) ([]byte, error) { return nil, tc.err },
			}
			s, err := results.New(kv, failing, results.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			err = s.Store(ctx, "id", idv.AsyncResult{Status: idv.StatusInProgress})
			if idv.ErrorCode(err) != tc.storeCode || !errors.Is(err, tc.err) {
				t.Errorf("Store error = %v, want code %s wrapping the sealer's", err, tc.storeCode)
			}
			if err := kv.Put(ctx, s.Key("id"), "id", []byte("x"), time.Minute); err != nil {
				t.Fatal(err)
			}
			_, err = s.Load(ctx, "id")
			if idv.ErrorCode(err) != tc.loadCode || !errors.Is(err, tc.err) {
				t.Errorf("Load error = %v, want code %s wrapping the sealer's", err, tc.loadCode)
			}
		})
	}
}
