package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/fake"
	"github.com/idv-dev/idv/ratelimit"
	"github.com/idv-dev/idv/ratelimit/memory"
)

func TestVerifyInfoFieldErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ field, value string }{
		{"first_name", ""}, {"dob", "02/03/1980"}, {"dob", "2999-01-01"}, {"ssn", "12345"},
		{"zipcode", "ABCDE"}, {"state", "Virginia"}, {"state_id_number", ""}, {"address1", ""},
		{"first_name", strings.Repeat("x", 500)}, {"ssn", "<script>alert(1)</script>"},
		{"first_name", "."}, {"address1", "1 Main\nSt"}, {"city", "Spring\xfffield"}, {"state_id_number", "D123\x004567"},
		{"address2", "Apt\t2"},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			f := goodForm()
			f.Set(tc.field, tc.value)
			code, _, body := h.do("POST", "/verify/verify_info", f)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+tc.field+`-error"`) {
				t.Fatalf("got %d, body %.400q", code, body)
			}
			if strings.Contains(body, "<script>alert") {
				t.Fatal("input echoed unescaped")
			}
			if n := len(h.queue.Jobs()); n != 0 {
				t.Fatalf("enqueued %d jobs for invalid input", n)
			}
		})
	}
}

func TestResolutionAttemptLimits(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, memory.New(time.Now))
	// Vendor faults do not cost an attempt.
	for range 3 {
		if loc := h.attempt(idv.OutcomeException); loc != "/verify/errors/exception?step=verify_info" {
			t.Fatalf("exception went to %q", loc)
		}
	}
	if _, _, body := h.do("GET", "/verify/errors/warning?step=verify_info", nil); !strings.Contains(body, "<strong>5</strong> attempts left") {
		t.Fatalf("remaining after exceptions: %.600s", body)
	}
	for i := 1; i <= ratelimit.IDVResolution.Max; i++ {
		loc := h.attempt(idv.OutcomeFailure)
		want := "/verify/errors/warning?step=verify_info"
		if i == ratelimit.IDVResolution.Max {
			// The last attempt failed: the verification failed, for good.
			want = "/verify/result"
		}
		if loc != want {
			t.Fatalf("failure %d went to %q, want %q", i, loc, want)
		}
	}
	if v := h.verification(); v.Status != idv.VerificationFailed {
		t.Fatalf("verification %s after the last failure", v.Status)
	}
	_, _, body := h.do("GET", "/verify/result", nil)
	if !strings.Contains(body, "couldn't verify your identity") || !strings.Contains(body, "Continue to Test Service") ||
		!strings.Contains(body, `href="https://rp.example/back?verification_id=`+h.vid+`"`) {
		t.Fatalf("result page after failure: %.900s", body)
	}
	jobs := len(h.queue.Jobs())
	if loc := h.attempt(idv.OutcomeSuccess); loc != "/verify/result" {
		t.Fatalf("after the limit: %q", loc)
	}
	if len(h.queue.Jobs()) != jobs {
		t.Fatal("a submit after the verification failed enqueued a job")
	}
}

func TestSSNAttemptLimit(t *testing.T) {
	t.Parallel()
	lim := memory.New(time.Now)
	// The SSN limit follows the SSN across sessions (people).
	for i := 0; i < ratelimit.ProofSSN.Max; i++ {
		h := newHarnessWith(t, lim)
		if loc := h.attempt(idv.OutcomeException); loc != "/verify/errors/exception?step=verify_info" {
			t.Fatalf("attempt %d went to %q", i, loc)
		}
	}
	h := newHarnessWith(t, lim)
	loc := h.attempt(idv.OutcomeSuccess)
	if loc != "/verify/errors/rate_limited?step=verify_info" {
		t.Fatalf("after %d SSN attempts: %q", ratelimit.ProofSSN.Max, loc)
	}
	// Others used the SSN: the page blames no one, and says when.
	_, _, body := h.do("GET", loc, nil)
	for _, want := range []string{"We can't check this Social Security number right now", "doesn't mean you did anything wrong",
		"You can try again in about an hour", "Go back to Test Service"} {
		if !strings.Contains(unescape(body), want) {
			t.Errorf("SSN limit page lacks %q", want)
		}
	}
	if strings.Contains(body, "You've tried too many times") {
		t.Error("the SSN limit page says the person tried too many times")
	}
}

// The SSN field is a numeric text field the browser neither saves nor
// fills (no password field), masked by mask.js with a show/hide button;
// ZIP asks for a digits keyboard too. Both render so after an error as well.
func TestVerifyInfoFieldKinds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, _, page := h.do("GET", "/verify/verify_info", nil)
	bad := goodForm()
	bad.Set("ssn", "12")
	_, _, refused := h.do("POST", "/verify/verify_info", bad)
	for name, body := range map[string]string{"form": page, "form with errors": refused} {
		for _, want := range []string{
			`id="ssn" name="ssn" type="text" value="" autocomplete="off" inputmode="numeric" spellcheck="false" data-mask`,
			`id="zipcode" name="zipcode" type="text" value="`,
			`<script src="/static/mask.js" defer></script>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
		if !regexp.MustCompile(`<input [^>]*id="zipcode" [^>]*autocomplete="postal-code" inputmode="numeric"`).MatchString(body) {
			t.Errorf("%s: ZIP code field without inputmode=numeric", name)
		}
		if strings.Contains(body, `type="password"`) {
			t.Errorf("%s has a password field", name)
		}
	}
	code, _, script := h.do("GET", "/static/mask.js", nil)
	if code != http.StatusOK || !strings.Contains(script, `querySelectorAll("input[data-mask]")`) || !strings.Contains(script, "aria-pressed") {
		t.Fatalf("/static/mask.js: %d", code)
	}
}

// What people type is taken as they mean it: an SSN with spaces between its
// groups, a name typed with a combining mark. The job gets the SSN as
// ddd-dd-dddd and the name and address in NFC.
func TestVerifyInfoNormalizesTypedInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := goodForm()
	f.Set("ssn", " 900 12 3456 ")
	f.Set("first_name", "Zoe\u0308")
	f.Set("address1", "1 Rue de l'E\u0301glise")
	if code, loc, body := h.do("POST", "/verify/verify_info", f); code != http.StatusSeeOther || loc != "/verify/verify_info" {
		t.Fatalf("%d %s %.400s", code, loc, body)
	}
	jobs := h.queue.Jobs()
	j := jobs[len(jobs)-1]
	plain, err := fake.Sealer{}.Open(context.Background(), j.EncryptedArguments, idv.JobAAD(j.Kind, j.ResultID))
	if err != nil {
		t.Fatal(err)
	}
	var args idv.ResolutionArguments
	if err := json.Unmarshal(plain, &args); err != nil {
		t.Fatal(err)
	}
	if a := args.Applicant; a.SSN != "900-12-3456" || a.FirstName != "Zo\u00eb" || a.Address1 != "1 Rue de l'\u00c9glise" {
		t.Fatalf("job arguments: SSN %q, first name %q, address %q", a.SSN, a.FirstName, a.Address1)
	}
}
