package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// TestDefaults pins the identity provider's defaults.
func TestDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got  ratelimit.Limit
		want ratelimit.Limit
	}{
		{ratelimit.IDVResolution, ratelimit.Limit{Name: "idv_resolution", Max: 5, Window: 6 * time.Hour}},
		{ratelimit.ProofSSN, ratelimit.Limit{Name: "proof_ssn", Max: 10, Window: time.Hour}},
		{ratelimit.ProofAddress, ratelimit.Limit{Name: "proof_address", Max: 5, Window: 6 * time.Hour}},
		{ratelimit.IDVDocAuth, ratelimit.Limit{Name: "idv_doc_auth", Max: 5, Window: 6 * time.Hour}},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %+v, want %+v", tc.want.Name, tc.got, tc.want)
		}
		if err := ratelimit.Check(tc.got, "t"); err != nil {
			t.Errorf("%s: %v", tc.want.Name, err)
		}
	}
}

func TestAttempts(t *testing.T) {
	t.Parallel()
	reset := time.Date(2025, 1, 1, 6, 0, 0, 0, time.UTC)
	l := ratelimit.Limit{Name: "x", Max: 3, Window: time.Hour}
	tests := []struct {
		count int
		want  ratelimit.Attempts
	}{
		{0, ratelimit.Attempts{Remaining: 3}},
		{1, ratelimit.Attempts{Count: 1, Remaining: 2, ResetAt: reset}},
		{2, ratelimit.Attempts{Count: 2, Remaining: 1, ResetAt: reset}},
		{3, ratelimit.Attempts{Count: 3, Remaining: 0, Limited: true, ResetAt: reset}},
		// A count above max (the limit was lowered) is still limited,
		// with nothing remaining.
		{7, ratelimit.Attempts{Count: 7, Remaining: 0, Limited: true, ResetAt: reset}},
	}
	for _, tc := range tests {
		if got := l.Attempts(tc.count, reset); got != tc.want {
			t.Errorf("Attempts(%d) = %+v, want %+v", tc.count, got, tc.want)
		}
	}
}

func TestCheckDoesNotEchoTarget(t *testing.T) {
	t.Parallel()
	err := ratelimit.Check(ratelimit.Limit{Name: "x"}, "900-55-1234")
	if idv.ErrorCode(err) != idv.EINVALID || strings.Contains(err.Error(), "900-55-1234") {
		t.Fatalf("Check error = %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	if got, want := ratelimit.Fingerprint([]byte("Jefe"), "what do ya want for nothing?"),
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("Fingerprint = %s, want %s", got, want)
	}
	key, other := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	ssn := "900-55-1234"
	fp := ratelimit.Fingerprint(key, ssn)
	switch {
	case len(fp) != 64:
		t.Errorf("len = %d, want 64 hex characters", len(fp))
	case fp != ratelimit.Fingerprint(key, ssn):
		t.Error("not stable")
	case fp == ratelimit.Fingerprint(other, ssn):
		t.Error("same under another key")
	case fp == ratelimit.Fingerprint(key, "900-55-1235"):
		t.Error("same for another value")
	}
}
