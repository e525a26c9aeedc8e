package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
)

// step is one enqueue-then-poll step of the flow.
type step struct {
	Name  string // verify_info
	Path  string // /verify/verify_info
	Kind  idv.JobKind
	Title string
	Next  string // where a verified result sends the person
	// Limit is the per-person attempt limit shown on the step's error
	// pages. CountOnResult: it is counted when a vendor answered (success or
	// failure), not on submit.
	Limit         ratelimit.Limit
	CountOnResult bool
}

var (
	stepVerifyInfo = step{Name: "verify_info", Path: "/verify/verify_info", Kind: idv.JobResolution,
		Title: "Verify your information", Next: "/verify/phone", Limit: ratelimit.IDVResolution, CountOnResult: true}
	stepPhone = step{Name: "phone", Path: "/verify/phone", Kind: idv.JobAddress,
		Title: "Verify your phone number", Next: "/verify/result", Limit: ratelimit.ProofAddress}
)

var steps = map[string]step{stepDocument.Name: stepDocument, stepVerifyInfo.Name: stepVerifyInfo, stepPhone.Name: stepPhone}

// attemptState is what the web tier knows about a step's current attempt.
type attemptState struct {
	Status idv.Status
	CS     idv.CaptureSession
	Result *idv.ProofingResult
}

// state reads a step's attempt: no pointer in the session is none; a pointer
// whose capture session or stored value is gone is missing (the marker's
// 60 s TTL ran out); otherwise the stored status. It never changes the
// session, so the status endpoint can call it freely.
func (s *Server) state(ctx context.Context, st step) (attemptState, error) {
	ptr := s.sessions.GetString(ctx, keyPtrPref+st.Name)
	if ptr == "" {
		return attemptState{Status: idv.StatusNone}, nil
	}
	var cs idv.CaptureSession
	if id, resultID, ok := strings.Cut(ptr, "|"); ok {
		// The pointer carries the result id: no database read per poll.
		cs = idv.CaptureSession{ID: id, ResultID: resultID, Kind: st.Kind}
	} else {
		// A pointer written before result ids were kept in the session.
		var err error
		cs, err = s.queue.CaptureSession(ctx, ptr)
		if errors.Is(err, idv.ErrNotFound) || (err == nil && cs.Kind != st.Kind) {
			return attemptState{Status: idv.StatusMissing}, nil
		}
		if err != nil {
			return attemptState{}, err
		}
	}
	r, err := s.results.Load(ctx, cs.ResultID)
	switch {
	case idv.ErrorCode(err) == idv.ENOTFOUND:
		return attemptState{Status: idv.StatusMissing, CS: cs}, nil
	case idv.ErrorCode(err) == idv.ETAMPERED:
		// Nobody can read it, so the attempt is lost: treat as missing and
		// tell operators, who should never see this.
		s.log.ErrorContext(ctx, "stored result does not open", "step", st.Name, "capture_session", cs.ID, "error", err.Error())
		return attemptState{Status: idv.StatusMissing, CS: cs}, nil
	case err != nil:
		return attemptState{}, err
	}
	if r.Status == idv.StatusDone && r.Result == nil {
		return attemptState{Status: idv.StatusMissing, CS: cs}, nil
	}
	return attemptState{Status: r.Status, CS: cs, Result: r.Result}, nil
}

// begin starts a new attempt of st: a new capture session and result id, the
// sealed in_progress marker (written first, so a fast worker's result is
// never overwritten by it), then the job. args is sealed into the job.
func (s *Server) begin(ctx context.Context, st step, args any) error {
	plain, err := json.Marshal(args)
	if err != nil {
		return idv.WrapError(idv.EINTERNAL, "encode job arguments", err)
	}
	now := s.now()
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: st.Kind, RequestedAt: now}
	sealed, err := s.sealer.Seal(ctx, plain, idv.JobAAD(st.Kind, cs.ResultID))
	if err != nil {
		return err
	}
	if err := s.results.Store(ctx, cs.ResultID, idv.AsyncResult{Status: idv.StatusInProgress}); err != nil {
		return err
	}
	job := idv.Job{Kind: st.Kind, ResultID: cs.ResultID, TraceID: traceID(ctx), EnqueuedAt: now, EncryptedArguments: sealed}
	if err := s.queue.Submit(ctx, cs, job); err != nil {
		return err
	}
	s.sessions.Put(ctx, keyPtrPref+st.Name, cs.ID+"|"+cs.ResultID)
	s.log.InfoContext(ctx, "job enqueued", slog.String("kind", string(st.Kind)), slog.String("capture_session", cs.ID), slog.String("trace_id", job.TraceID))
	return nil
}

// finish clears a step's pointer, ending the attempt in the session.
func (s *Server) finish(ctx context.Context, st step) {
	s.sessions.Remove(ctx, keyPtrPref+st.Name)
}

// pending reports whether a step has an attempt in flight (pointer set), so a
// resubmit enqueues nothing.
func (s *Server) pending(ctx context.Context, st step) bool {
	return s.sessions.GetString(ctx, keyPtrPref+st.Name) != ""
}

// serveStatus answers the waiting page's script: {"status": ...}. It waits up
// to the long-poll limit for the attempt to leave in_progress, waking on the
// result store's change notification and re-reading on a short fallback tick.
func (s *Server) serveStatus(st step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LongPoll)
		defer cancel()
		var changed <-chan struct{}
		for {
			as, err := s.state(ctx, st)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
				return
			}
			if as.Status != idv.StatusInProgress {
				writeJSON(w, http.StatusOK, map[string]string{"status": string(as.Status)})
				return
			}
			if changed == nil {
				changed = s.results.Changed(ctx, as.CS.ResultID)
				continue // re-read once: the result may have landed before we subscribed
			}
			if !s.waitChange(ctx, changed) {
				break
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": string(idv.StatusInProgress)})
	}
}

// waitChange blocks until a change notification, the fallback tick or the end
// of ctx; it reports false when ctx is done.
func (s *Server) waitChange(ctx context.Context, changed <-chan struct{}) bool {
	t := time.NewTimer(s.cfg.FallbackPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.draining:
		return false
	case <-changed:
		return true
	case <-t.C:
		return true
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
