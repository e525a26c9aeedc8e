package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/api"
)

// A verified verification shows the relying party the outputs it may read,
// and nothing else; redaction removes them.
func TestAPIOutputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key, hash := idv.NewToken(idv.APIKeyPrefix)
	rp := idv.RelyingParty{ID: "rp_" + idv.NewID(), Name: "Test Service", APIKeyHash: hash, APIKeyHint: key[:10],
		ReturnURLs: []string{"https://rp.example/done"}, Outputs: []string{"name", "address"}, CreatedAt: e.clock.Now()}
	if err := e.q.CreateRelyingParty(ctx(t), rp); err != nil {
		t.Fatal(err)
	}
	_, v := e.create(key, `{"client_reference_id":"user-1","steps":["identity"]}`)
	id := v["id"].(string)
	if got := e.do("GET", "/v1/verifications/"+id, key, "").json(t); got["outputs"] != nil {
		t.Fatalf("outputs before verified: %v", got["outputs"])
	}

	a := idv.Applicant{FirstName: "Canaryfirst", LastName: "Canarylast", DOB: "1970-01-02", SSN: "900112222",
		Address1: "1 Canary St", City: "Springfield", State: "VA", ZIPCode: "22201", Phone: "7035550100"}
	plain, _ := json.Marshal(a)
	sealed, err := e.sealer.Seal(ctx(t), plain, idv.VerificationAAD(id))
	if err != nil {
		t.Fatal(err)
	}
	cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: idv.JobResolution, RequestedAt: e.clock.Now()}
	job := idv.Job{Kind: idv.JobResolution, ResultID: cs.ResultID, EnqueuedAt: cs.RequestedAt, EncryptedArguments: []byte("x")}
	if _, err := e.q.BeginAttempt(ctx(t), idv.Attempt{VerificationID: id, Step: idv.StepIdentity, CaptureSession: cs, Job: job, Identity: sealed}); err != nil {
		t.Fatal(err)
	}
	if err := e.q.RecordOutcome(ctx(t), idv.OutcomeRecord{ResultID: cs.ResultID, Kind: idv.JobResolution, Outcome: idv.OutcomeSuccess,
		FinishedAt: e.clock.Now(), VerificationID: id}); err != nil {
		t.Fatal(err)
	}

	r := e.do("GET", "/v1/verifications/"+id, key, "")
	got := r.json(t)
	out, _ := got["outputs"].(map[string]any)
	name, _ := out["name"].(map[string]any)
	addr, _ := out["address"].(map[string]any)
	if got["status"] != "verified" || name["given_name"] != "Canaryfirst" || name["family_name"] != "Canarylast" || addr["line1"] != "1 Canary St" {
		t.Fatalf("outputs %v", got["outputs"])
	}
	for _, notAllowed := range []string{"dob", "phone", "id_document"} {
		if _, ok := out[notAllowed]; ok {
			t.Errorf("output %s shown to a relying party not allowed it", notAllowed)
		}
	}
	if strings.Contains(string(r.body), "900112222") || strings.Contains(e.logs.String(), "Canary") {
		t.Fatal("the SSN reached the answer, or an output reached the logs")
	}

	if c := e.do("POST", "/v1/verifications/"+id+"/redact", key, ""); c.status != http.StatusOK {
		t.Fatalf("redact: %d", c.status)
	}
	if got := e.do("GET", "/v1/verifications/"+id, key, "").json(t); got["outputs"] != nil {
		t.Fatalf("outputs after redaction: %v", got["outputs"])
	}
}

// A create gets the steps the deployment offers; a step it does not offer,
// or phone without identity, is refused with nothing written.
func TestAPIOfferedSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) { o.Steps = []idv.StepName{idv.StepIdentity, idv.StepPhone} })
	_, key := e.rp()
	_, v := e.create(key, `{"client_reference_id":"user-1"}`)
	steps, _ := v["steps"].([]any)
	if len(steps) != 2 || steps[0].(map[string]any)["step"] != "identity" || steps[1].(map[string]any)["step"] != "phone" {
		t.Fatalf("default steps %v, want identity and phone", v["steps"])
	}
	before := e.count(`SELECT count(*) FROM idv_verifications`)
	for _, body := range []string{
		`{"client_reference_id":"user-2","steps":["document","identity"]}`,
		`{"client_reference_id":"user-3","steps":["phone"]}`,
	} {
		e.do("POST", "/v1/verifications", key, body, "Content-Type", "application/json").problem(t, http.StatusBadRequest, "invalid_request")
	}
	if after := e.count(`SELECT count(*) FROM idv_verifications`); after != before {
		t.Fatalf("%d verifications written by refused creates", after-before)
	}
}
