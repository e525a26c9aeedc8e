package sim

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"time"

	"github.com/idv-dev/idv/vendors"
)

// answerKind is how the simulated vendor behaves on the wire.
type answerKind int

const (
	answerJSON        answerKind = iota // a well-formed verdict
	answerError                         // HTTP 500: the vendor failed
	answerGarbage                       // HTTP 200 with a body that is not JSON
	answerHang                          // no answer until the client gives up
	answerUnreachable                   // the connection drops without a response
)

// answer is what a trigger decided; respond carries it out.
type answer struct {
	kind answerKind
	body vendors.VerifyResponse
}

// verify decodes a request of type T, waits the simulated latency and
// carries out decide's answer. Nothing about the request is logged or
// echoed.
func verify[T any](s *Simulator, decide func(T) answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req T
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request"})
			return
		}
		if !s.wait(r, s.latency) {
			return
		}
		s.respond(w, r, decide(req))
	})
}

// wait sleeps d, or less if the client goes away; it reports whether the
// client is still there.
func (s *Simulator) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Simulator) respond(w http.ResponseWriter, r *http.Request, a answer) {
	switch a.kind {
	case answerJSON:
		writeJSON(w, http.StatusOK, a.body)
	case answerError:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal_error"})
	case answerGarbage:
		// What a gateway in front of a vendor sends when the vendor is down.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body><h1>504 Gateway Time-out</h1></body></html>\n"))
	case answerHang:
		if s.wait(r, s.hang) {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "timeout"})
		}
	case answerUnreachable:
		// Drop the connection so the client sees a transport error, as
		// with a vendor that is down. Hijacking works on HTTP/1; elsewhere
		// ErrAbortHandler makes net/http reset the stream without logging.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// verdict builds a well-formed answer with fresh ids. errs maps an
// attribute to one code; no errors means success.
func verdict(prefix string, errs map[string]string, verified ...string) answer {
	ok := len(errs) == 0
	body := vendors.VerifyResponse{
		Success:       &ok,
		TransactionID: prefix + "-" + rand.Text(),
		Reference:     "ref-" + rand.Text(),
	}
	if ok {
		body.VerifiedAttributes = verified
	} else {
		body.Errors = map[string][]string{}
		for attr, code := range errs {
			body.Errors[attr] = []string{code}
		}
	}
	return answer{kind: answerJSON, body: body}
}
