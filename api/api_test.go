package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/api"
	"github.com/idv-dev/idv/ratelimit"
)

func stepsOf(m map[string]any) []string {
	var out []string
	for _, s := range m["steps"].([]any) {
		st := s.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%s:%v", st["step"], st["status"], st["attempts_left"]))
	}
	return out
}

// attachImages records a document attempt of the verification and stores
// its two images, as a capture would.
func (e *env) attachImages(verificationID string) []string {
	e.t.Helper()
	capture := idv.NewID()
	if _, err := e.db.Exec(ctx(e.t), `INSERT INTO idv_capture_sessions (id, result_id, kind, requested_at, verification_id)
		VALUES ($1, $2, $3, $4, $5)`, capture, idv.NewID(), string(idv.JobDocument), e.clock.Now(), verificationID); err != nil {
		e.t.Fatal(err)
	}
	keys := []string{idv.DocumentImageKey(capture, idv.SideFront), idv.DocumentImageKey(capture, idv.SideBack)}
	for _, k := range keys {
		if err := e.objects.Put(ctx(e.t), k, []byte("ciphertext")); err != nil {
			e.t.Fatal(err)
		}
	}
	return keys
}

func (e *env) imagesGone(keys []string) bool {
	e.t.Helper()
	for _, k := range keys {
		if _, err := e.objects.Get(ctx(e.t), k); idv.ErrorCode(err) != idv.ENOTFOUND {
			return false
		}
	}
	return true
}

func TestAPIVerificationLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	start := e.clock.Now()

	r, v := e.create(key, `{"client_reference_id":"user-42","steps":["identity","document"],"metadata":{"order":"A-1"}}`)
	id := v["id"].(string)
	if r.header.Get("Location") != "/v1/verifications/"+id || v["status"] != "requires_input" ||
		v["return_url"] != "https://rp.example/done" || v["finished_at"] != nil || v["last_error"] != nil {
		t.Fatalf("create answer: %s", r.body)
	}
	if got := stepsOf(v); !slices.Equal(got, []string{"document:pending:5", "identity:pending:5"}) {
		t.Fatalf("steps %v, want document then identity with 5 attempts each", got)
	}
	if v["link_expires_at"] != start.Add(time.Hour).Format(time.RFC3339) || v["expires_at"] != start.Add(24*time.Hour).Format(time.RFC3339) {
		t.Fatalf("link expires %v, verification expires %v", v["link_expires_at"], v["expires_at"])
	}
	first := tokenOf(t, v)

	got := e.do("GET", "/v1/verifications/"+id, key, "").json(t)
	if got["status"] != "requires_input" || got["metadata"].(map[string]any)["order"] != "A-1" || got["url"] != nil || got["receipt"] != nil {
		t.Fatalf("get: %v", got)
	}

	// A new link kills the first (unused) one; the new one works once.
	l := e.do("POST", "/v1/verifications/"+id+"/link", key, "")
	if l.status != http.StatusOK {
		t.Fatalf("link: %d %s", l.status, l.body)
	}
	second := tokenOf(t, l.json(t))
	if second == first {
		t.Fatal("the new link is the old one")
	}
	if _, err := e.q.ExchangeLink(ctx(t), idv.HashToken(first), e.clock.Now()); idv.ErrorCode(err) != idv.ENOTFOUND {
		t.Fatalf("replaced link: %v, want not found", err)
	}
	if got, err := e.q.ExchangeLink(ctx(t), idv.HashToken(second), e.clock.Now()); err != nil || got.ID != id {
		t.Fatalf("new link: %v", err)
	}
	if _, err := e.q.ExchangeLink(ctx(t), idv.HashToken(second), e.clock.Now()); idv.ErrorCode(err) != idv.ENOTFOUND {
		t.Fatalf("link used twice: %v, want not found", err)
	}

	// Redact waits for the end; cancel ends it and deletes the images.
	images := e.attachImages(id)
	e.do("POST", "/v1/verifications/"+id+"/redact", key, "").problem(t, http.StatusConflict, api.CodeConflict)
	e.clock.Advance(time.Minute)
	c := e.do("POST", "/v1/verifications/"+id+"/cancel", key, "{}")
	if cv := c.json(t); c.status != http.StatusOK || cv["status"] != "canceled" || cv["finished_at"] != start.Add(time.Minute).Format(time.RFC3339) {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	if !e.imagesGone(images) {
		t.Fatal("images of a canceled verification remain")
	}
	if again := e.do("POST", "/v1/verifications/"+id+"/cancel", key, ""); again.status != http.StatusOK {
		t.Fatalf("second cancel: %d %s", again.status, again.body)
	}
	e.do("POST", "/v1/verifications/"+id+"/link", key, "").problem(t, http.StatusConflict, api.CodeConflict)

	final := e.do("GET", "/v1/verifications/"+id, key, "").json(t)
	if final["receipt"] != fakeReceiptFor(id, "canceled") {
		t.Fatalf("final verification's receipt %v", final["receipt"])
	}

	e.clock.Advance(time.Minute)
	rd := e.do("POST", "/v1/verifications/"+id+"/redact", key, "")
	rv := rd.json(t)
	if rd.status != http.StatusOK || rv["metadata"] != nil || rv["redacted_at"] != start.Add(2*time.Minute).Format(time.RFC3339) || rv["status"] != "canceled" {
		t.Fatalf("redact: %d %s", rd.status, rd.body)
	}
	if n := e.count(`SELECT count(*) FROM idv_verifications WHERE id = $1 AND identity IS NULL AND metadata IS NULL`, id); n != 1 {
		t.Fatal("sealed data left after redaction")
	}
	e.clock.Advance(time.Minute)
	if again := e.do("POST", "/v1/verifications/"+id+"/redact", key, "").json(t); again["redacted_at"] != rv["redacted_at"] {
		t.Fatalf("second redact moved redacted_at: %v", again["redacted_at"])
	}
}

func fakeReceiptFor(id, status string) string {
	r, _ := fakeReceipts{}.Receipt(context.Background(), idv.Verification{ID: id, Status: idv.VerificationStatus(status)})
	return r
}

func TestAPIListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	_, otherKey := e.rp()
	e.create(otherKey, `{"client_reference_id":"u-a"}`)
	start := e.clock.Now()
	var ids []string // oldest first
	for i := range 5 {
		_, v := e.create(key, fmt.Sprintf(`{"client_reference_id":"u-%c"}`, "ababa"[i]))
		ids = append(ids, v["id"].(string))
		e.clock.Advance(time.Second)
	}
	e.do("POST", "/v1/verifications/"+ids[1]+"/cancel", key, "")
	newest := slices.Clone(ids)
	slices.Reverse(newest)

	var walked []string
	pages, cursor := 0, ""
	for {
		path := "/v1/verifications?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		page := e.do("GET", path, key, "").json(t)
		pages++
		for _, v := range page["data"].([]any) {
			walked = append(walked, v.(map[string]any)["id"].(string))
		}
		if page["next_cursor"] == nil {
			break
		}
		cursor = page["next_cursor"].(string)
	}
	if pages != 3 || !slices.Equal(walked, newest) {
		t.Fatalf("%d pages %v, want 3 pages %v (newest first, no other relying party's)", pages, walked, newest)
	}

	at := func(d time.Duration) string { return url.QueryEscape(start.Add(d).Format(time.RFC3339)) }
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"client_reference_id=u-b", []string{ids[3], ids[1]}},
		{"status=canceled", []string{ids[1]}},
		{"status=requires_input&client_reference_id=u-a", []string{ids[4], ids[2], ids[0]}},
		{"created_after=" + at(time.Second) + "&created_before=" + at(3*time.Second), []string{ids[2], ids[1]}},
	} {
		page := e.do("GET", "/v1/verifications?"+c.query, key, "").json(t)
		var got []string
		for _, v := range page["data"].([]any) {
			got = append(got, v.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, c.want) || page["next_cursor"] != nil {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "status=done", "colour=red", "cursor=bm9kb3Q",
		"created_after=yesterday", "client_reference_id=a%40b.example", "limit=1&limit=2"} {
		e.do("GET", "/v1/verifications?"+q, key, "").problem(t, http.StatusBadRequest, api.CodeInvalidRequest)
	}
}

func TestAPIIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) {
		o.ReferenceLimit = ratelimit.Limit{Name: "test_reference", Max: 1, Window: time.Hour}
	})
	_, key := e.rp()
	body := `{"client_reference_id":"u-1","steps":["identity","document"],"metadata":{"a":"1","b":"2"}}`
	_, first := e.create(key, body, "Idempotency-Key", "order-17")

	// The same request, spelt differently: the same verification, with a
	// new link (the first one dies), not counted against the limit of 1.
	same := `{ "metadata": {"b":"2","a":"1"}, "steps": ["document","identity"], "client_reference_id": "u-1" }`
	r := e.do("POST", "/v1/verifications", key, same, "Idempotency-Key", "order-17")
	again := r.json(t)
	if r.status != http.StatusOK || again["id"] != first["id"] || r.header.Get("Location") != "" {
		t.Fatalf("repeat: %d %s", r.status, r.body)
	}
	if tokenOf(t, again) == tokenOf(t, first) {
		t.Fatal("the repeat shows the first link again")
	}
	if _, err := e.q.ExchangeLink(ctx(t), idv.HashToken(tokenOf(t, first)), e.clock.Now()); idv.ErrorCode(err) != idv.ENOTFOUND {
		t.Fatalf("first link after the repeat: %v, want not found", err)
	}

	other := `{"client_reference_id":"u-1","steps":["document"]}`
	e.do("POST", "/v1/verifications", key, other, "Idempotency-Key", "order-17").problem(t, http.StatusConflict, api.CodeIdempotencyConflict)
	if n := e.count(`SELECT count(*) FROM idv_verifications`); n != 1 {
		t.Fatalf("%d verifications, want 1", n)
	}
	// A new verification for u-1 is over its limit of 1 (the repeat was
	// not counted, this one is).
	e.do("POST", "/v1/verifications", key, other, "Idempotency-Key", "order-18").problem(t, http.StatusTooManyRequests, api.CodeRateLimited)

	// The key is the relying party's own: another one may use it.
	_, otherKey := e.rp()
	e.create(otherKey, other, "Idempotency-Key", "order-17")
}

func TestAPICrossRelyingParty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	_, intruder := e.rp()
	_, v := e.create(key, `{"client_reference_id":"u-1"}`)
	id := v["id"].(string)
	images := e.attachImages(id)
	missing := e.do("GET", "/v1/verifications/vrf_missing", intruder, "")
	missing.problem(t, http.StatusNotFound, api.CodeNotFound)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/verifications/" + id},
		{"POST", "/v1/verifications/" + id + "/link"},
		{"POST", "/v1/verifications/" + id + "/cancel"},
		{"POST", "/v1/verifications/" + id + "/redact"},
	} {
		r := e.do(c.method, c.path, intruder, "")
		r.problem(t, http.StatusNotFound, api.CodeNotFound)
		if string(r.body) != string(missing.body) {
			t.Errorf("%s %s: %s differs from a missing one's %s", c.method, c.path, r.body, missing.body)
		}
	}
	list := e.do("GET", "/v1/verifications", intruder, "").json(t)
	if len(list["data"].([]any)) != 0 {
		t.Fatalf("another relying party lists %v", list["data"])
	}
	if got := e.do("GET", "/v1/verifications/"+id, key, "").json(t); got["status"] != "requires_input" || e.imagesGone(images) {
		t.Fatalf("another relying party changed the verification: %v", got)
	}
}

func TestAPIAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rp, key := e.rp()
	disabled, disabledKey := e.rp()
	if err := e.q.DisableRelyingParty(ctx(t), disabled.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rotated, rotatedKey := e.rp()
	_, hash := idv.NewToken(idv.APIKeyPrefix)
	if err := e.q.RotateRelyingPartyKey(ctx(t), rotated.ID, hash, "idv_sk_new"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, auth string }{
		{"none", ""},
		{"basic", "Basic " + key},
		{"empty bearer", "Bearer "},
		{"unknown key", "Bearer idv_sk_unknown"},
		{"disabled", "Bearer " + disabledKey},
		{"rotated away", "Bearer " + rotatedKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, route := range []struct{ method, path, body string }{
				{"GET", "/v1/verifications", ""},
				{"POST", "/v1/verifications", `{"client_reference_id":"u-1"}`},
			} {
				r := e.do(route.method, route.path, "", route.body, "Authorization", c.auth)
				r.problem(t, http.StatusUnauthorized, api.CodeUnauthorized)
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM idv_verifications`); n != 0 {
		t.Fatalf("%d verifications created without a valid key", n)
	}
	if r := e.do("GET", "/v1/verifications", "", "", "Authorization", "bearer "+key); r.status != http.StatusOK {
		t.Fatalf("lower-case scheme: %d", r.status)
	}
	for _, line := range e.logs.requestLines(t) {
		if line["status"] == float64(http.StatusOK) && line["rp"] != rp.ID {
			t.Fatalf("request line without the relying party: %v", line)
		}
	}
}

func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	// One verification per end user: the refused creates must not count.
	e := newEnv(t, func(o *api.Options) {
		o.ReferenceLimit = ratelimit.Limit{Name: "test_reference", Max: 1, Window: time.Hour}
	})
	_, key := e.rp()
	ref := `"client_reference_id":"u-1"`
	big := `{` + ref + `,"metadata":{"a":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}}`
	manyKeys := make([]string, 21)
	for i := range manyKeys {
		manyKeys[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	for _, c := range []struct {
		name, body string
		headers    []string
		status     int
		code       string
		field      string
	}{
		{"malformed JSON", `{"client_reference_id":`, nil, 400, api.CodeInvalidRequest, ""},
		{"broken JSON", `{"client_reference_id" "u-1"}`, nil, 400, api.CodeInvalidRequest, ""},
		{"not an object", `["u-1"]`, nil, 400, api.CodeInvalidRequest, ""},
		{"two objects", `{` + ref + `} {}`, nil, 400, api.CodeInvalidRequest, ""},
		{"empty", ` `, nil, 400, api.CodeInvalidRequest, ""},
		{"unknown field", `{` + ref + `,"colour":"red"}`, nil, 400, api.CodeInvalidRequest, "colour"},
		{"reference a number", `{"client_reference_id":42}`, nil, 400, api.CodeInvalidRequest, "client_reference_id"},
		{"steps a string", `{` + ref + `,"steps":"document"}`, nil, 400, api.CodeInvalidRequest, "steps"},
		{"metadata a list", `{` + ref + `,"metadata":["a"]}`, nil, 400, api.CodeInvalidRequest, "metadata"},
		{"metadata value a number", `{` + ref + `,"metadata":{"a":1}}`, nil, 400, api.CodeInvalidRequest, "metadata"},
		{"no reference", `{}`, nil, 400, api.CodeInvalidRequest, "client_reference_id"},
		{"e-mail reference", `{"client_reference_id":"alice@example.com"}`, nil, 400, api.CodeInvalidRequest, "client_reference_id"},
		{"name reference", `{"client_reference_id":"Alice Smith"}`, nil, 400, api.CodeInvalidRequest, "client_reference_id"},
		{"unregistered return URL", `{` + ref + `,"return_url":"https://evil.example/done"}`, nil, 400, api.CodeInvalidRequest, "return_url"},
		{"prefix of a return URL", `{` + ref + `,"return_url":"https://rp.example/done/x"}`, nil, 400, api.CodeInvalidRequest, "return_url"},
		{"unknown step", `{` + ref + `,"steps":["document","selfie"]}`, nil, 400, api.CodeInvalidRequest, "steps"},
		{"step twice", `{` + ref + `,"steps":["phone","phone"]}`, nil, 400, api.CodeInvalidRequest, "steps"},
		{"no steps", `{` + ref + `,"steps":[]}`, nil, 400, api.CodeInvalidRequest, "steps"},
		{"too many metadata keys", `{` + ref + `,"metadata":{` + strings.Join(manyKeys, ",") + `}}`, nil, 400, api.CodeInvalidRequest, "metadata"},
		{"metadata value too long", `{` + ref + `,"metadata":{"a":"` + strings.Repeat("é", 501) + `"}}`, nil, 400, api.CodeInvalidRequest, "metadata"},
		{"metadata key with a space", `{` + ref + `,"metadata":{"a b":"c"}}`, nil, 400, api.CodeInvalidRequest, "metadata"},
		{"long idempotency key", `{` + ref + `}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, api.CodeInvalidRequest, "Idempotency-Key"},
		{"oversized", big, nil, 413, api.CodePayloadTooLarge, ""},
		{"not JSON", `{` + ref + `}`, []string{"Content-Type", "text/plain"}, 415, api.CodeUnsupportedMediaType, ""},
		{"no content type", `{` + ref + `}`, []string{"Content-Type", ""}, 415, api.CodeUnsupportedMediaType, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := e.do("POST", "/v1/verifications", key, c.body, c.headers...).problem(t, c.status, c.code)
			if c.field != "" && m["field"] != c.field {
				t.Errorf("field %v, want %s", m["field"], c.field)
			}
		})
	}
	_, v := e.create(key, `{`+ref+`}`)
	id := v["id"].(string)
	e.do("POST", "/v1/verifications/"+id+"/cancel", key, `{"now":true}`).problem(t, 400, api.CodeInvalidRequest)
	e.do("POST", "/v1/verifications/"+id+"/cancel", key, `{}`, "Content-Type", "text/plain").problem(t, 415, api.CodeUnsupportedMediaType)
	if got := e.do("GET", "/v1/verifications/"+id, key, "").json(t); got["status"] != "requires_input" {
		t.Fatalf("a refused cancel canceled: %v", got["status"])
	}
	// Nothing half-written: the one good create is all there is.
	if n := e.count(`SELECT count(*) FROM idv_verifications`); n != 1 {
		t.Fatalf("%d verifications, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM idv_verification_links`); n != 1 {
		t.Fatalf("%d links, want 1", n)
	}
}

func TestAPIRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) {
		o.RequestLimit = ratelimit.Limit{Name: "test_requests", Max: 3, Window: time.Minute}
		o.ReferenceLimit = ratelimit.Limit{Name: "test_reference", Max: 2, Window: time.Hour}
	})
	_, key := e.rp()
	_, otherKey := e.rp()
	for range 3 {
		if r := e.do("GET", "/v1/verifications", key, ""); r.status != http.StatusOK {
			t.Fatalf("request under the limit: %d", r.status)
		}
	}
	r := e.do("GET", "/v1/verifications", key, "")
	r.problem(t, http.StatusTooManyRequests, api.CodeRateLimited)
	if want := strconv.Itoa(60 - e.clock.Now().Second()); r.header.Get("Retry-After") != want { // to the minute's end
		t.Fatalf("Retry-After %q, want %s", r.header.Get("Retry-After"), want)
	}
	if r := e.do("GET", "/v1/verifications", otherKey, ""); r.status != http.StatusOK {
		t.Fatalf("another relying party limited: %d", r.status)
	}
	e.clock.Advance(time.Minute)

	// Per end user: two verifications for u-1, then no more; u-2 is free.
	e.create(key, `{"client_reference_id":"u-1"}`)
	e.create(key, `{"client_reference_id":"u-1"}`)
	e.clock.Advance(time.Minute)
	r = e.do("POST", "/v1/verifications", key, `{"client_reference_id":"u-1"}`)
	r.problem(t, http.StatusTooManyRequests, api.CodeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	e.create(key, `{"client_reference_id":"u-2"}`)
	if n := e.count(`SELECT count(*) FROM idv_verifications WHERE client_reference_id = 'u-1'`); n != 2 {
		t.Fatalf("%d verifications for u-1, want 2", n)
	}
}

func TestAPIRoutesAndSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.rp()
	e.do("GET", "/v1/nothing", key, "").problem(t, http.StatusNotFound, api.CodeNotFound)
	r := e.do("DELETE", "/v1/verifications", key, "")
	r.problem(t, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
	spec := e.do("GET", "/v1/openapi.yaml", "", "")
	if spec.status != http.StatusOK || string(spec.body) != string(api.Spec) {
		t.Fatalf("spec: %d", spec.status)
	}
	if err := e.spec.Validate(ctx(t)); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
}

// failingReceipts is a signer whose key store is down.
type failingReceipts struct{}

func (failingReceipts) Receipt(context.Context, idv.Verification) (string, error) {
	return "", idv.Errorf(idv.EUNAVAILABLE, "signing keys unavailable")
}

func TestAPIUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *api.Options) { o.Receipts = failingReceipts{} })
	_, key := e.rp()
	_, v := e.create(key, `{"client_reference_id":"u-1"}`)
	id := v["id"].(string)
	e.do("POST", "/v1/verifications/"+id+"/cancel", key, "")
	r := e.do("GET", "/v1/verifications/"+id, key, "")
	r.problem(t, http.StatusServiceUnavailable, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	lines := e.logs.requestLines(t)
	last := lines[len(lines)-1]
	if last["level"] != "ERROR" || !strings.Contains(fmt.Sprint(last["error"]), "signing keys unavailable") {
		t.Fatalf("request line of a 503: %v", last)
	}
}
