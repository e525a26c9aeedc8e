package api_test

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
)

// A relying party may put anything in metadata, PII included: it is stored
// sealed, answered back to that relying party only, and never logged. Nor
// are the API key or the person's link.
func TestAPIMetadataCanary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	canary := "CANARY-" + idv.NewID()
	_, v := e.create(key, `{"client_reference_id":"u-1","metadata":{"note":"`+canary+`"}}`)
	id := v["id"].(string)
	token := tokenOf(t, v)
	if got := e.do("GET", "/v1/verifications/"+id, key, "").json(t); got["metadata"].(map[string]any)["note"] != canary {
		t.Fatalf("metadata answered %v", got["metadata"])
	}
	e.do("GET", "/v1/verifications?client_reference_id=u-1", key, "")
	e.do("POST", "/v1/verifications", key, `{"client_reference_id":"`+canary+`@example.com"}`).problem(t, http.StatusBadRequest, "invalid_request")

	var rows []string
	r, err := e.db.Query(ctx(t), `SELECT v::text FROM idv_verifications v UNION ALL SELECT l::text FROM idv_verification_links l`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var s string
		if err := r.Scan(&s); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want a verification and its link", len(rows))
	}
	for _, s := range rows {
		// bytea columns print as hex: look for both spellings.
		if strings.Contains(s, canary) || strings.Contains(s, hex.EncodeToString([]byte(canary))) || strings.Contains(s, token) {
			t.Fatalf("plaintext in a row: %s", s)
		}
	}

	logs := e.logs.String()
	for what, secret := range map[string]string{"metadata": canary, "API key": key, "link token": token, "verification id in a path": "/v1/verifications/" + id} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the logs", what)
		}
	}
	lines := e.logs.requestLines(t)
	if len(lines) != 4 {
		t.Fatalf("%d request lines for 4 requests", len(lines))
	}
	get := lines[1]
	if get["method"] != "GET" || get["route"] != "GET /v1/verifications/{id}" || get["status"] != float64(200) || get["rp"] == "" || get["duration"] == nil {
		t.Fatalf("request line %v", get)
	}
	if bad := lines[3]; bad["code"] != "invalid_request" || bad["status"] != float64(400) {
		t.Fatalf("request line of a refused create %v", bad)
	}
}
