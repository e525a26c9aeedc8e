package queue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

const adminPrefix = "/admin/jobs"

// canaryApplicant is PII that must never show in the admin UI.
var canaryApplicant = idv.Applicant{FirstName: "CanaryFirst", LastName: "CanaryLast", SSN: "900-12-3456",
	DOB: "1970-01-01", Address1: "1 Canary Street", City: "Canaryville", State: "VA", ZIPCode: "20001", Phone: "7035550100"}

// sealedAttempt is an attempt whose arguments are sealed as the web tier
// seals them, holding canaryApplicant.
func sealedAttempt(t *testing.T, kind idv.JobKind) (idv.CaptureSession, idv.Job) {
	t.Helper()
	cs, job := newAttempt(kind)
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": make([]byte, seal.MasterKeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	env, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(idv.ResolutionArguments{Applicant: canaryApplicant})
	job.EncryptedArguments, err = env.Seal(ctx(t), plain, idv.JobAAD(job.Kind, job.ResultID))
	if err != nil {
		t.Fatal(err)
	}
	return cs, job
}

// adminServer serves q's admin UI under adminPrefix, as the web tier mounts it.
func adminServer(t *testing.T, q *Queue) *httptest.Server {
	t.Helper()
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := q.AdminHandler(c, adminPrefix)
	if err != nil {
		t.Fatalf("AdminHandler: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(adminPrefix+"/", h)
	mux.Handle(adminPrefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, accept string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// assertNoPII fails if body shows the canary PII or the sealed arguments.
func assertNoPII(t *testing.T, body string, job idv.Job) {
	t.Helper()
	for _, s := range []string{canaryApplicant.FirstName, canaryApplicant.LastName, canaryApplicant.SSN, canaryApplicant.Address1,
		canaryApplicant.Phone, base64.StdEncoding.EncodeToString(job.EncryptedArguments)[:20]} {
		if strings.Contains(body, s) {
			t.Fatalf("admin answer shows %q:\n%s", s, body)
		}
	}
}

type adminJob struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Queue string `json:"queue"`
	State string `json:"state"`
	Args  string `json:"args"`
}

func TestAdminHandler(t *testing.T) {
	t.Parallel()
	backends := map[string]func(t *testing.T) *Queue{
		"postgres": func(t *testing.T) *Queue { return newPGEnv(t).open(t, Config{}) },
		"sqlite": func(t *testing.T) *Queue {
			q := openSQLite(t, Config{})
			if err := q.Migrate(ctx(t)); err != nil {
				t.Fatal(err)
			}
			return q
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := open(t)
			cs, job := sealedAttempt(t, idv.JobResolution)
			if err := q.Submit(ctx(t), cs, job); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			srv := adminServer(t, q)
			base := srv.URL + adminPrefix

			// The job list: our job, its routing fields, nothing sealed.
			code, _, body := get(t, base+"/api/jobs?state=available", "")
			if code != http.StatusOK {
				t.Fatalf("job list: %d %s", code, body)
			}
			assertNoPII(t, body, job)
			var list struct{ Data []adminJob }
			if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 1 {
				t.Fatalf("job list %s: %v", body, err)
			}
			got := list.Data[0]
			if got.Kind != string(idv.JobResolution) || got.Queue != idv.JobResolution.Queue() || got.State != "available" {
				t.Fatalf("job = %+v", got)
			}
			var args map[string]string
			if err := json.Unmarshal([]byte(got.Args), &args); err != nil {
				t.Fatalf("args %q: %v", got.Args, err)
			}
			if args["result_id"] != job.ResultID || args["trace_id"] != job.TraceID || args["encrypted_arguments"] != hiddenValue {
				t.Fatalf("args = %v, want the routing fields and the sealed arguments hidden", args)
			}

			// One job.
			code, _, body = get(t, fmt.Sprintf("%s/api/jobs/%d", base, got.ID), "")
			if code != http.StatusOK || !strings.Contains(body, job.ResultID) {
				t.Fatalf("job: %d %s", code, body)
			}
			assertNoPII(t, body, job)

			// The list hides arguments by default.
			code, _, body = get(t, base+"/api/features", "")
			if code != http.StatusOK || !strings.Contains(body, `"job_list_hide_args_by_default":true`) {
				t.Fatalf("features: %d %s", code, body)
			}

			// The UI, its base under the prefix, and its assets.
			code, hdr, body := get(t, base+"/", "text/html")
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") ||
				!strings.Contains(body, `"apiUrl":"/admin/jobs/api"`) {
				t.Fatalf("UI: %d %s\n%s", code, hdr.Get("Content-Type"), body)
			}
			script := regexp.MustCompile(`src="(/admin/jobs/assets/[^"]+\.js)"`).FindStringSubmatch(body)
			if script == nil {
				t.Fatalf("UI has no script under the prefix:\n%s", body)
			}
			if code, hdr, _ := get(t, srv.URL+script[1], ""); code != http.StatusOK || !strings.Contains(hdr.Get("Content-Type"), "javascript") {
				t.Fatalf("script %s: %d %s", script[1], code, hdr.Get("Content-Type"))
			}
			if code, hdr, _ := get(t, base, "text/html"); code != http.StatusMovedPermanently || hdr.Get("Location") != adminPrefix+"/" {
				t.Fatalf("%s: %d to %q, want a redirect to the slash", adminPrefix, code, hdr.Get("Location"))
			}
		})
	}
}

func TestAdminHandlerStopsWithContext(t *testing.T) {
	t.Parallel()
	q := openSQLite(t, Config{})
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if _, err := q.AdminHandler(c, adminPrefix); err != nil {
		t.Fatal(err)
	}
	cancel() // must not hang or panic; the race detector watches the rest
}

func TestAdminRedactArgs(t *testing.T) {
	t.Parallel()
	args := `{"kind":"resolution_proofing","result_id":"r1","trace_id":"t1","enqueued_at":"2026-01-01T00:00:00Z","encrypted_arguments":"c2VjcmV0","new_field":"x"}`
	quoted, _ := json.Marshal(args)
	tests := []struct {
		name, in string
		wantErr  bool
		want     []string
		notWant  []string
	}{
		{name: "list", in: `{"data":[{"id":9007199254740993,"args":` + string(quoted) + `}]}`,
			want:    []string{`9007199254740993`, `\"result_id\":\"r1\"`, `\"encrypted_arguments\":\"[hidden]\"`, `\"new_field\":\"[hidden]\"`},
			notWant: []string{"c2VjcmV0"}},
		{name: "one job", in: `{"id":1,"args":` + string(quoted) + `,"errors":[]}`,
			want: []string{`\"trace_id\":\"t1\"`}, notWant: []string{"c2VjcmV0", `"x"`}},
		{name: "args not an object", in: `{"args":"\"secret\""}`, want: []string{`"args":"{}"`}, notWant: []string{"secret"}},
		{name: "args not a string", in: `{"args":{"encrypted_arguments":"c2VjcmV0"}}`, want: []string{`"args":"{}"`}, notWant: []string{"c2VjcmV0"}},
		{name: "not JSON", in: `<html>`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := redactArgs([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("%s does not contain %s", out, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(out), w) {
					t.Errorf("%s contains %s", out, w)
				}
			}
		})
	}
}

// TestAdminHideArgsFailsClosed: an answer with arguments that cannot be
// filtered is not passed on.
func TestAdminHideArgsFailsClosed(t *testing.T) {
	t.Parallel()
	h := hideArgs(adminPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"args":"{\"encrypted_arguments\":\"c2VjcmV0\"}"`) // truncated JSON
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, adminPrefix+"/api/jobs", nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "c2VjcmV0") {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
}
