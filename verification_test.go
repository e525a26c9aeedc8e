package idv

import "testing"

func TestFinishStep(t *testing.T) {
	t.Parallel()
	inFlight := StepRecord{Step: StepDocument, Status: StepProcessing, Attempts: 2, MaxAttempts: 3, InFlight: "r"}
	last := inFlight
	last.Attempts = 3
	for _, c := range []struct {
		name     string
		in       StepRecord
		outcome  Outcome
		status   StepStatus
		attempts int
	}{
		{"success passes", inFlight, OutcomeSuccess, StepPassed, 2},
		{"failure with attempts left", inFlight, OutcomeFailure, StepPending, 2},
		{"failure on the last attempt", last, OutcomeFailure, StepFailed, 3},
		{"timeout gives the attempt back", last, OutcomeTimedOut, StepPending, 2},
		{"exception gives the attempt back", inFlight, OutcomeException, StepPending, 1},
		{"missing gives the attempt back", inFlight, "", StepPending, 1},
	} {
		got := FinishStep(c.in, c.outcome)
		if got.Status != c.status || got.Attempts != c.attempts || got.InFlight != "" {
			t.Errorf("%s: %+v, want status %s attempts %d", c.name, got, c.status, c.attempts)
		}
	}
}

func TestDeriveStatusAndReady(t *testing.T) {
	t.Parallel()
	rec := func(s StepName, st StepStatus, attempts int) StepRecord {
		return StepRecord{Step: s, Status: st, Attempts: attempts, MaxAttempts: 3}
	}
	for _, c := range []struct {
		name    string
		current VerificationStatus
		steps   []StepRecord
		want    VerificationStatus
		ready   StepName
		code    string
	}{
		{"new", VerificationRequiresInput, []StepRecord{rec(StepDocument, StepPending, 0), rec(StepPhone, StepPending, 0)}, VerificationRequiresInput, StepDocument, ""},
		{"order", VerificationRequiresInput, []StepRecord{rec(StepDocument, StepPending, 0), rec(StepPhone, StepPending, 0)}, VerificationRequiresInput, StepPhone, ECONFLICT},
		{"running", VerificationProcessing, []StepRecord{rec(StepDocument, StepProcessing, 1)}, VerificationProcessing, StepDocument, ECONFLICT},
		{"all passed", VerificationProcessing, []StepRecord{rec(StepDocument, StepPassed, 1)}, VerificationVerified, StepDocument, ECONFLICT},
		{"one failed", VerificationProcessing, []StepRecord{rec(StepDocument, StepPassed, 1), rec(StepIdentity, StepFailed, 3)}, VerificationFailed, StepIdentity, ERATELIMITED},
		{"out of attempts", VerificationRequiresInput, []StepRecord{rec(StepDocument, StepPending, 3)}, VerificationRequiresInput, StepDocument, ERATELIMITED},
		{"final kept", VerificationCanceled, []StepRecord{rec(StepDocument, StepPassed, 1)}, VerificationCanceled, StepDocument, ECONFLICT},
		{"missing step", VerificationRequiresInput, []StepRecord{rec(StepDocument, StepPending, 0)}, VerificationRequiresInput, StepPhone, EINVALID},
	} {
		if got := DeriveStatus(c.current, c.steps); got != c.want {
			t.Errorf("%s: DeriveStatus = %s, want %s", c.name, got, c.want)
		}
		v := Verification{Status: c.current, Steps: c.steps}
		if got := ErrorCode(v.Ready(c.ready)); got != c.code {
			t.Errorf("%s: Ready(%s) code %q, want %q", c.name, c.ready, got, c.code)
		}
	}
}
