package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
)

// A request refused for its own fault (4xx) is logged as a warning; only
// a failure of ours (5xx) is an error.
func TestFailedRequestLogLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		send  func(h *harness) int
		code  int
		level string
	}{
		{"form that does not parse", func(h *harness) int {
			req, _ := http.NewRequest("POST", h.srv.URL+"/verify/verify_info", strings.NewReader("first_name=%zz"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			code, _, _ := h.send(req)
			return code
		}, http.StatusBadRequest, "WARN"},
		{"store down", func(h *harness) int {
			h.queue.failBegin(idv.Errorf(idv.EUNAVAILABLE, "verification store unavailable"))
			code, _, _ := h.do("POST", "/verify/verify_info", goodForm())
			return code
		}, http.StatusServiceUnavailable, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if code := tc.send(h); code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			lines := logLines(t, h.logs.String(), "request failed")
			if len(lines) != 1 || lines[0]["level"] != tc.level || lines[0]["status"] != float64(tc.code) {
				t.Fatalf("request failed lines %v, want one at %s with status %d", lines, tc.level, tc.code)
			}
		})
	}
}

// logLines decodes the JSON log lines whose msg is msg.
func logLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
