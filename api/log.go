package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Each request is logged once, after it is answered: method, route pattern
// (never the path, which carries ids, nor the query, which may carry a
// client_reference_id), status, relying party and duration. Bodies are
// never logged: a create carries the relying party's metadata, an answer
// the person's link.

type requestInfoKey struct{}

// requestInfo is what a request learns about itself for its log line.
type requestInfo struct {
	rpID string
	code string // the problem code, when the answer is a problem
	err  string // the error behind a 5xx answer (domain errors are PII-free)
}

func infoOf(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func (h *Handler) logRequest(r *http.Request, info *requestInfo, status int, took time.Duration) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", status),
		slog.String("rp", info.rpID),
		slog.Duration("duration", took),
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("code", info.code))
	}
	if info.err != "" {
		attrs = append(attrs, slog.String("error", info.err))
	}
	h.log.LogAttrs(r.Context(), level, "api request", attrs...)
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
