package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
)

func TestLogsNeverCarryPII(t *testing.T) {
	t.Parallel()
	a := idv.Applicant{FirstName: "Canaryfirst", LastName: "Canarylast", SSN: "900-66-1234", DOB: "1970-01-02",
		Address1: "9 Canary Rd", Phone: "7035550123", StateIDNumber: "CANARY99"}
	var buf bytes.Buffer
	log := NewLogger(&buf, 0)
	log.Info("applicant", "applicant", a, "ptr", &a, "first_name", "Canaryfirst", "ssn", a.SSN, "phone", a.Phone)
	log.Info("error", "error", fmt.Errorf("wrapped: %v", a).Error())
	// Containers of PII types: the JSON handler would use encoding/json.
	log.Info("containers", "list", []idv.Applicant{a}, "byid", map[string]idv.Applicant{"x": a},
		"args", []idv.ResolutionArguments{{Applicant: a}}, "raw", []byte("Canaryraw"))
	out := buf.String() +
		fmt.Sprintf("%v %+v %#v %s %q", a, a, a, a, a) +
		fmt.Sprint(&a) + errors.New(fmt.Sprint(a)).Error()
	for _, c := range []string{"Canary", "900-66-1234", "1970-01-02", "7035550123"} {
		if strings.Contains(out, c) {
			t.Fatalf("%q leaked: %s", c, out)
		}
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Fatalf("nothing redacted: %s", buf.String())
	}
}

// zitadel/oidc's op package logs its errors with the OAuth state inside an
// oidc_error group; the state stays out, the error type stays in.
func TestLogsRedactOAuthState(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := NewLogger(&buf, 0)
	log.Warn("auth request", slog.Group("oidc_error", "type", "invalid_request", "state", "Statecanary1", "session_state", "Statecanary2"),
		"state", "running")
	out := buf.String()
	if strings.Contains(out, "Statecanary") || !strings.Contains(out, `"type":"invalid_request"`) || !strings.Contains(out, `"state":"running"`) {
		t.Fatalf("log: %s", out)
	}
}
