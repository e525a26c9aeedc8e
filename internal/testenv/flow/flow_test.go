package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fakeIDV answers as idv's web tier and API do for the parts of the flow
// these helpers read: a link binds (303 to /), the start page has a button
// into a step, the self-serve start, a step page without a bound session
// (303 to /), and the API's create.
func fakeIDV(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start/{token}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("token") != "lnk_good" {
			http.Error(w, "This link has expired", http.StatusNotFound)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "bound", Path: "/"})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != "bound" {
			fmt.Fprint(w, `<form method="post" action="/start"><button class="button" type="submit">Start</button></form>`)
			return
		}
		fmt.Fprint(w, `<p><a class="button" href="/verify/verify_info">Start</a></p>`)
	})
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/verify/document_capture", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /verify/phone", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /v1/verifications", func(w http.ResponseWriter, r *http.Request) {
		var nv NewVerification
		if r.Header.Get("Authorization") != "Bearer key_1" || json.NewDecoder(r.Body).Decode(&nv) != nil || nv.ClientReferenceID == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"vrf_1","status":"requires_input","client_reference_id":%q,"url":"https://idv.example/start/lnk_good"}`, nv.ClientReferenceID)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRPCreateThenPersonStarts(t *testing.T) {
	t.Parallel()
	srv := fakeIDV(t)
	ctx := context.Background()
	v, err := NewRP(srv.URL, "key_1", nil).Create(ctx, NewVerification{ClientReferenceID: "user-1"})
	if err != nil || v.ID != "vrf_1" || v.ClientReferenceID != "user-1" {
		t.Fatalf("Create: %+v %v", v, err)
	}
	if _, err := NewRP(srv.URL, "wrong", nil).Create(ctx, NewVerification{ClientReferenceID: "user-1"}); err == nil {
		t.Fatal("Create with a wrong key: no error")
	}
	// The link names the public URL; it is followed on Base.
	p := New(srv.URL, nil)
	if first, err := p.Start(ctx, v.URL); err != nil || first != "/verify/verify_info" {
		t.Fatalf("Start: %q %v", first, err)
	}
	for _, link := range []string{"https://idv.example/start/lnk_spent", "https://idv.example/verify/phone", "%zz"} {
		if _, err := New(srv.URL, nil).Start(ctx, link); err == nil {
			t.Errorf("Start(%q): no error", link)
		}
	}
}

func TestSelfServeAndLostSession(t *testing.T) {
	t.Parallel()
	srv := fakeIDV(t)
	ctx := context.Background()
	p := New(srv.URL, nil)
	if first, err := p.SelfServe(ctx); err != nil || first != "/verify/document_capture" {
		t.Fatalf("SelfServe: %q %v", first, err)
	}
	if got, err := p.Outcome(ctx, "/verify/phone"); err != nil || got != Lost {
		t.Fatalf("a step page sending the person to the start page: %q %v, want Lost", got, err)
	}
}
