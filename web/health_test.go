package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestJobsHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		checks   map[string]func(context.Context) error
		wantCode int
		want     map[string]string
	}{
		{"workers alive", map[string]func(context.Context) error{
			"queue": func(context.Context) error { return nil }, "workers": func(context.Context) error { return nil }},
			200, map[string]string{"queue": "ok", "workers": "ok"}},
		{"no worker holds the leadership", map[string]func(context.Context) error{
			"queue": func(context.Context) error { return nil }, "workers": func(context.Context) error { return errors.New("no leader") }},
			503, map[string]string{"queue": "ok", "workers": "unavailable"}},
		{"not configured", nil, 503, map[string]string{"jobs": "unavailable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessOpts(t, func(o *Options) { o.JobsHealth = tc.checks })
			// An operators' check: served on the ops handler, not the
			// public port.
			if code, _, _ := h.do("GET", "/api/health/jobs", nil); code != http.StatusNotFound {
				t.Errorf("public port: HTTP %d, want 404", code)
			}
			rec := httptest.NewRecorder()
			h.server.Ops().ServeHTTP(rec, httptest.NewRequest("GET", "/api/health/jobs", nil))
			code, body := rec.Code, rec.Body.String()
			var got struct{ Checks map[string]string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || code != tc.wantCode {
				t.Fatalf("%d %s", code, body)
			}
			for k, v := range tc.want {
				if got.Checks[k] != v {
					t.Errorf("%s = %q, want %q", k, got.Checks[k], v)
				}
			}
		})
	}
}
