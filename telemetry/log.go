// Package telemetry sets up idv's logs (log/slog, JSON) and metrics.
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// piiKeys are attribute names that must never carry a value into a log line.
// Domain types already mask themselves; this is the second line of defence
// for a plain string logged under a telling name.
var piiKeys = map[string]bool{
	"first_name": true, "last_name": true, "name": true, "dob": true, "ssn": true,
	"address": true, "address1": true, "address2": true, "city": true, "zipcode": true, "zip": true,
	"state_id_number": true, "phone": true, "encryption_key": true, "password": true,
	"front_image_url": true, "back_image_url": true, "front_image_iv": true, "back_image_iv": true,
}

// ParseLevel turns debug/info/warn/error into a slog.Level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns a JSON logger writing to w that redacts PII-named keys.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if piiKeys[strings.ToLower(a.Key)] || oauthValue(groups, a.Key) {
				return slog.String(a.Key, "[REDACTED]")
			}
			return maskContainers(a)
		},
	}))
}

// oauthValue reports whether key, in groups, is a value a relying party
// sent through the OpenID Provider that logs should not carry: the state
// that zitadel/oidc's op package logs with its errors (it logs through
// slog's default logger, which the binary points here).
func oauthValue(groups []string, key string) bool {
	return slices.Contains(groups, "oidc_error") && (key == "state" || key == "session_state")
}

// maskContainers prints a slice, array or map value with fmt instead of
// letting the JSON handler encode it with encoding/json: domain types mask
// themselves in Format but marshal their PII to JSON (that is how they are
// sealed), so a []Applicant would otherwise be written in the clear.
// Structs are left alone: those that hold PII implement LogValue, which the
// handler resolves before this runs.
func maskContainers(a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	v := a.Value.Any()
	if _, ok := v.(error); ok {
		return a
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		if _, bytes := v.([]byte); bytes {
			return slog.String(a.Key, "[REDACTED]")
		}
		if m, ok := v.(map[string]float64); ok { // timings: safe and wanted as JSON
			return slog.Any(a.Key, m)
		}
		return slog.String(a.Key, fmt.Sprintf("%+v", v))
	}
	return a
}

// OpenLog opens the log destination: stdout for "" or "-", else the file
// (appended, created 0640 with its directory).
func OpenLog(path string) (io.WriteCloser, error) {
	if path == "" || path == "-" {
		return nopCloser{os.Stdout}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
