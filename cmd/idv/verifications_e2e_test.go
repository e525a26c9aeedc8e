package main

// Issue 10 end to end: a relying party created with `idv rp create` asks
// for a verification through the API, a real Chromium follows the person's
// link through every step, the relying party's endpoint gets signed
// webhooks (through the egress proxy) that are never lost, and the API's
// answer and the receipt check out with ordinary libraries, as a relying
// party would check them.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/jackc/pgx/v5"

	"github.com/idv-dev/idv/api"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

// The tables of verifications, relying parties, webhooks and receipts: the
// canary scan must find rows in each, so that it proves something there.
var verificationTables = []string{"idv_verifications", "idv_verification_steps", "idv_relying_parties",
	"idv_webhook_events", "idv_webhook_attempts", "idv_verification_links", "idv_signing_keys"}

// receiptClaims are the only claims a receipt may carry: ids, times,
// status and outcomes, nothing about the person.
var receiptClaims = []string{"iss", "aud", "sub", "iat", "status", "checks", "verified_at"}

func TestVerificationsEndToEnd(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	s3srv := testenv.S3(t)
	hooks := newHookReceiver(t)
	// The web server listens where the public URL says, so the link the
	// API gives is the one the browser follows, and the receipts' issuer
	// is where the JWKS is fetched.
	addr := loopbackAddr(t)
	public := "http://" + addr
	env := slices.Concat(pe.env, docEnv(s3srv), []string{
		"IDV_VERIFICATIONS_PUBLIC_URL=" + public,
		// The receiver is plain http on loopback (still through the
		// egress proxy, whose allow-list has its host).
		"IDV_VERIFICATIONS_WEBHOOKS_ALLOW_INSECURE=true",
	})
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", addr)
	w1 := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	w2 := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	if base := web.waitURL(t); base != public {
		t.Fatalf("web listens at %s, want %s", base, public)
	}
	w1.waitURL(t)
	w2.waitURL(t)
	run1(t, append(env, "IDV_OBJECTS_CORS_ORIGIN="+public), "storage")

	const rpName = "Acme Rentals"
	const returnURL = "https://rentals.test/verified"
	out := run1(t, env, "rp", "create", "--name", rpName, "--return-url", returnURL, "--webhook-url", hooks.URL+"/idv-events", "--insecure")
	rpID, key, secret := rpCreated(t, out)
	hooks.setSecret(secret)
	// The people it sends over HTTP (not Chromium) are asked the identity
	// and phone steps only: the document step is the browser's.
	rp := &relyingParty{RP: flow.NewRP(public, key, nil), steps: stepsWithoutDocument}
	spec := loadSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, pe.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	var receipts []string
	t.Run("a person sent by the relying party is verified in a real browser; the relying party learns it and can prove it", func(t *testing.T) {
		created := spec.call(t, rp, "POST", "/v1/verifications", `{"client_reference_id":"acme-user-1","metadata":{"plan":"gold"}}`, http.StatusCreated)
		var v flow.Verification
		if err := json.Unmarshal(created, &v); err != nil || v.Status != "requires_input" || !strings.HasPrefix(v.URL, public+"/start/") {
			t.Fatalf("create answered %s (%v)", created, err)
		}
		browseVerification(t, s3srv, v.URL, rpName, returnURL+"?verification_id="+v.ID)

		// The webhook: verification.verified, signed with the secret
		// idv rp create printed.
		got := hooks.waitFor(90*time.Second, "verification.verified of "+v.ID, func(got []delivery) bool {
			return slices.ContainsFunc(accepted(got, v.ID), func(d delivery) bool { return d.Type == "verification.verified" })
		})
		for _, d := range accepted(got, v.ID) {
			if !d.SignedOK {
				t.Errorf("delivery %s (%s) does not verify with the Standard Webhooks library", d.ID, d.Type)
			}
			// A thin event: ids and status, nothing about the person.
			var body struct {
				Type, Timestamp string
				Data            map[string]any
			}
			dec := json.NewDecoder(bytes.NewReader(d.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil || len(body.Data) != 2 || body.Data["verification_id"] != v.ID || body.Data["status"] != d.EvtStatus {
				t.Errorf("delivery %s: body is not a thin event (%v)", d.ID, err)
			}
		}
		if log := pe.proxy.Log(t); !strings.Contains(log, "POST "+hooks.URL+"/idv-events") {
			t.Error("webhooks did not go through the egress proxy")
		}

		// The API's answer, checked against api/openapi.yaml.
		body := spec.call(t, rp, "GET", "/v1/verifications/"+v.ID, "", http.StatusOK)
		var final flow.Verification
		if err := json.Unmarshal(body, &final); err != nil || final.Status != "verified" || final.Receipt == "" || len(final.Steps) != 3 {
			t.Fatalf("GET answered %s (%v)", body, err)
		}
		for _, st := range final.Steps {
			if st.Status != "passed" {
				t.Errorf("step %s is %s, want passed", st.Step, st.Status)
			}
		}
		receipts = append(receipts, final.Receipt)

		// The receipt, checked offline against the JWKS fetched over HTTP
		// with go-jose, as a relying party does.
		claims := checkReceipt(t, public, final.Receipt)
		for k, want := range map[string]any{"iss": public, "aud": rpID, "sub": v.ID, "status": "verified"} {
			if claims[k] != want {
				t.Errorf("receipt claim %s = %v, want %v", k, claims[k], want)
			}
		}
		if checks, _ := claims["checks"].(map[string]any); checks["document"] != "passed" || checks["resolution"] != "passed" ||
			checks["state_id"] != "passed" || checks["phone"] != "passed" {
			t.Errorf("receipt checks = %v, want every one passed", claims["checks"])
		}
		if _, ok := claims["verified_at"].(float64); !ok {
			t.Errorf("receipt has no verified_at: %v", claims)
		}
		for k := range claims {
			if !slices.Contains(receiptClaims, k) {
				t.Errorf("receipt carries claim %q: only %v may be there", k, receiptClaims)
			}
		}
	})

	t.Run("the receiver down, then back: every event delivered once it returns, in order, retries with the same webhook-id", func(t *testing.T) {
		p := rp.person(t)
		// The receiver answers 503 until it has refused once; the first
		// retry comes webhook.NextRetry(1) (5 s) later.
		hooks.plan(p.verification, planFailFirst)
		if got := p.verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
			t.Fatalf("verify_info went to %q", got)
		}
		if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
			t.Fatalf("phone went to %q", got)
		}
		events := eventsOf(t, db, p.verification, "verification.verified")
		got := hooks.waitFor(90*time.Second, "every event of "+p.verification, func(got []delivery) bool {
			return len(accepted(got, p.verification)) >= len(events)
		})
		var order []string
		for _, d := range accepted(got, p.verification) {
			order = append(order, d.ID)
			if !d.SignedOK {
				t.Errorf("delivery %s (%s) does not verify", d.ID, d.Type)
			}
		}
		var want []string
		for _, e := range events {
			want = append(want, e.id)
		}
		if !slices.Equal(order, want) {
			t.Errorf("events delivered in the order %v, want each once in the order written %v", order, want)
		}
		// The refused request was the first event's, and its retry carried
		// the same webhook-id and the same body.
		mine := slices.DeleteFunc(got, func(d delivery) bool { return d.VerifID != p.verification })
		if mine[0].Status != http.StatusServiceUnavailable || mine[0].ID != want[0] || mine[1].ID != want[0] || !bytes.Equal(mine[0].Body, mine[1].Body) {
			t.Errorf("first requests: %v, want the first event refused then delivered again as itself", summary(mine[:2]))
		}
		// Each attempt is recorded (just after the receiver's answer).
		var attempts, failed int
		untilTrue(t, "every attempt recorded", func() bool {
			if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status_code = 503) FROM idv_webhook_attempts a
				JOIN idv_webhook_events e ON e.id = a.event_id WHERE e.verification_id = $1`, p.verification).Scan(&attempts, &failed); err != nil {
				t.Fatal(err)
			}
			return attempts >= len(events)+1
		})
		if attempts != len(events)+1 || failed != 1 {
			t.Errorf("attempts recorded: %d (%d refused), want %d (1 refused)", attempts, failed, len(events)+1)
		}
	})

	t.Run("a worker SIGKILLed mid-delivery: another worker delivers the event, with the same webhook-id", func(t *testing.T) {
		created := spec.call(t, rp, "POST", "/v1/verifications", `{"client_reference_id":"acme-user-3"}`, http.StatusCreated)
		var v flow.Verification
		if err := json.Unmarshal(created, &v); err != nil {
			t.Fatal(err)
		}
		hooks.plan(v.ID, planHangFirst)
		// Canceling writes one event: verification.canceled.
		spec.call(t, rp, "POST", "/v1/verifications/"+v.ID+"/cancel", "", http.StatusOK)
		var hung delivery
		select {
		case hung = <-hooks.hung:
		case <-time.After(60 * time.Second):
			t.Fatal("the delivery of verification.canceled never reached the receiver")
		}
		// The worker holding the delivery job: River's client id is
		// host_PID_random.
		var holder string
		if err := db.QueryRow(ctx, `SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job
			WHERE kind = 'idv_webhook_delivery' AND state = 'running' AND args->>'verification_id' = $1`, v.ID).Scan(&holder); err != nil {
			t.Fatalf("the hanging delivery's job is not running: %v", err)
		}
		victim, survivor := w1, w2
		if strings.Contains(holder, fmt.Sprintf("_%d_", w2.cmd.Process.Pid)) {
			victim, survivor = w2, w1
		} else if !strings.Contains(holder, fmt.Sprintf("_%d_", w1.cmd.Process.Pid)) {
			t.Fatalf("job held by %q, neither worker", holder)
		}
		if err := victim.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = victim.wait()

		got := hooks.waitFor(90*time.Second, "the canceled event delivered by the other worker", func(got []delivery) bool {
			return len(accepted(got, v.ID)) > 0
		})
		ok := accepted(got, v.ID)
		if len(ok) != 1 || ok[0].ID != hung.ID || ok[0].Type != "verification.canceled" || !ok[0].SignedOK || !bytes.Equal(ok[0].Body, hung.Body) {
			t.Fatalf("delivered %v after the kill, want the hung event %s once, signed, same body", summary(ok), hung.ID)
		}
		if !survivor.logs(`"msg":"job of a lost worker rescued"`) {
			t.Error("the surviving worker did not log the rescue")
		}
		// The worker records the delivery just after the receiver's answer.
		untilTrue(t, "event "+hung.ID+" marked delivered", func() bool {
			var delivered bool
			if err := db.QueryRow(ctx, `SELECT delivered_at IS NOT NULL FROM idv_webhook_events WHERE id = $1`, hung.ID).Scan(&delivered); err != nil {
				t.Fatal(err)
			}
			return delivered
		})
	})

	// Every table (the new ones with rows), Redis, the logs of web (the
	// API's included), workers and vendors, the proxy's log, the bucket,
	// the webhook bodies received and the receipts.
	t.Run("no canary PII in plaintext anywhere", func(t *testing.T) {
		for _, tbl := range verificationTables {
			var n int
			if err := db.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", pgx.Identifier{tbl}.Sanitize())).Scan(&n); err != nil || n == 0 {
				t.Errorf("%s: %d rows (%v): the scan would prove nothing there", tbl, n, err)
			}
		}
		dump := dumpStores(t, pe, web, w1, w2, pe.vendors)
		dump.WriteString(pe.proxy.Log(t))
		for _, b := range bucketObjects(t, s3srv) {
			dump.Write(b)
		}
		got := hooks.deliveries()
		for _, d := range got {
			dump.Write(d.Body)
		}
		for _, r := range receipts {
			for _, part := range strings.Split(r, ".") {
				b, _ := base64.RawURLEncoding.DecodeString(part)
				dump.Write(b)
			}
		}
		if len(got) == 0 || len(receipts) == 0 || !strings.Contains(web.out.String(), `"/v1/verifications`) {
			t.Fatalf("nothing to scan: %d webhook bodies, %d receipts, API requests logged: %v", len(got), len(receipts),
				strings.Contains(web.out.String(), `"/v1/verifications`))
		}
		all := strings.ToLower(dump.String())
		for _, c := range append(canaries, "Zorblecanary") {
			if strings.Contains(all, strings.ToLower(c)) {
				t.Errorf("canary %q found in plaintext", c)
			}
		}
		t.Logf("scanned %d bytes: %d webhook bodies, %d receipts", dump.Len(), len(got), len(receipts))
	})
}

// loopbackAddr returns a loopback address with a port free right now, for
// a server whose URL must be known before it starts.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var rpCreatedRE = regexp.MustCompile(`relying party (rp_\S+) created[^\n]*\napi_key: (\S+)\nwebhook_secret: (\S+)\n`)

// rpCreated reads what idv rp create printed once.
func rpCreated(t *testing.T, out string) (id, key, secret string) {
	t.Helper()
	m := rpCreatedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("idv rp create printed:\n%s", out)
	}
	return m[1], m[2], m[3]
}

// browseVerification is the person, in Chromium: the link, the start page
// naming the relying party, the document (encrypted in the page and
// uploaded to S3), verify_info, the phone, the result and the way back
// (wantBack).
func browseVerification(t *testing.T, s3srv *testenv.S3Server, link, rpName, wantBack string) {
	t.Helper()
	dir := t.TempDir()
	front, back := filepath.Join(dir, "front.yml"), filepath.Join(dir, "back.png")
	if err := os.WriteFile(front, []byte(canaryDocument), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(back, testenv.PNG(t, 64, 40), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	const step = 30 * time.Second
	within(t, ctx, step, "the link", chromedp.Navigate(link))
	if text := within(t, ctx, step, "start page", chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(text, rpName+" asked us") {
		t.Fatalf("start page does not name the relying party: %q", text)
	}
	within(t, ctx, step, "start", chromedp.Click(chromedp.CSS(`a.button`)))
	waitCapture(t, ctx)
	within(t, ctx, step, "choose the front", chromedp.SetUploadFiles(chromedp.CSS(`#front`), []string{front}))
	within(t, ctx, step, "choose the back", chromedp.SetUploadFiles(chromedp.CSS(`#back`), []string{back}))
	within(t, ctx, step, "both uploaded", chromedp.Poll[bool](
		`document.querySelector('[data-side=front]').dataset.state === 'done' && document.querySelector('[data-side=back]').dataset.state === 'done'`))
	// What reached the bucket is the page's ciphertext.
	for _, b := range bucketObjects(t, s3srv) {
		if bytes.Contains(b, []byte("Zorblecanary")) {
			t.Fatal("the ID reached the bucket in the clear")
		}
	}
	within(t, ctx, step, "submit the document", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "verify_info", chromedp.WaitVisible(chromedp.CSS(`#ssn`)))
	if v := within(t, ctx, step, "what the ID says", chromedp.Text(chromedp.CSS(`dl.from-id`))); !strings.Contains(v, "Zorblecanary") {
		t.Fatalf("verify_info shows %q as read from the ID", v)
	}
	within(t, ctx, step, "type the SSN", chromedp.SendKeys(chromedp.CSS(`#ssn`), "900-41-7723"))
	within(t, ctx, step, "submit verify_info", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "phone page", chromedp.WaitVisible(chromedp.CSS(`#phone`)))
	within(t, ctx, step, "type the phone", chromedp.SendKeys(chromedp.CSS(`#phone`), "7035550199"))
	within(t, ctx, step, "submit phone", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	within(t, ctx, 90*time.Second, "outcome", chromedp.WaitVisible(chromedp.CSS(`.alert-success`)))
	gotBack := within(t, ctx, step, "the way back", chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll('a')).filter(a => a.textContent.trim() === 'Continue to `+rpName+`').map(a => a.href).join(' ')`))
	if gotBack != wantBack {
		t.Fatalf("the result page leads back to %q, want %q", gotBack, wantBack)
	}
}

// apiSpec is api/openapi.yaml, loaded for kin-openapi's validation.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t *testing.T) apiSpec {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	doc.Servers = nil // match any host: the test's
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return apiSpec{doc: doc, router: router}
}

// call sends one request as the relying party, checks the status, and
// validates the answer against the spec (its status declared for the
// operation, its body fitting the schema, formats included).
func (s apiSpec) call(t *testing.T, rp *relyingParty, method, path, body string, want int) []byte {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, res, err := rp.Call(ctx, method, path, b, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.Code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, res.Code, want, res.Body)
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.Code,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()}},
	}
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		t.Fatalf("%s %s: answer %d does not match openapi.yaml: %v\n%s", method, path, res.Code, err, res.Body)
	}
	return res.Body
}

// checkReceipt fetches the JWKS from base over HTTP and verifies the
// receipt with go-jose: ES256 only, the key named by kid. It returns the
// receipt's claims.
func checkReceipt(t *testing.T, base, token string) map[string]any {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(get(t, base+"/.well-known/jwks.json")), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS: %v (%d keys)", err, len(set.Keys))
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("receipt does not parse as an ES256 JWS: %v", err)
	}
	kid := tok.Headers[0].KeyID
	keys := set.Key(kid)
	if kid == "" || len(keys) != 1 || !keys[0].IsPublic() || keys[0].Algorithm != "ES256" {
		t.Fatalf("receipt kid %q: %d published keys", kid, len(keys))
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("receipt does not verify against the JWKS: %v", err)
	}
	return claims
}

// untilTrue polls cond (at most 30 s) until it holds.
func untilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling the database
	}
}

// event is one row of idv_webhook_events.
type event struct{ id, typ string }

// eventsOf waits (at most 30 s) until a verification's last event is of
// type last, and returns its events in the order they were written.
func eventsOf(t *testing.T, db *pgx.Conn, verificationID, last string) []event {
	t.Helper()
	var evs []event
	untilTrue(t, "the last event of "+verificationID+" is "+last, func() bool {
		rows, err := db.Query(context.Background(), `SELECT id, type FROM idv_webhook_events WHERE verification_id = $1 ORDER BY created_at, id`, verificationID)
		if err != nil {
			t.Fatal(err)
		}
		if evs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (event, error) {
			var e event
			return e, r.Scan(&e.id, &e.typ)
		}); err != nil {
			t.Fatal(err)
		}
		return len(evs) > 0 && evs[len(evs)-1].typ == last
	})
	return evs
}
