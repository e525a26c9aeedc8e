package idv

import (
	"fmt"
	"log/slog"
	"strings"
)

// Masking for the types that hold PII, directly or nested (fields tagged
// pii:"true"; mask_test.go finds them by parsing this package and checks
// every way a value can be printed). Each prints its non-PII fields, which
// help an operator (outcome, stages, ids), and replaces PII with
// [REDACTED], under fmt (String, GoString and Format, so every verb and
// flag is covered, %#v included) and slog (LogValue). Pointers get the
// same methods through the pointer's method set.
//
// Applicant's methods are in applicant.go.

// String masks the key, IVs and URLs; the capture id is a random id.
func (d DocumentArguments) String() string {
	return fmt.Sprintf("idv.DocumentArguments{CaptureID:%s ServerSealed:%t ImageEncryption:%s EncryptionKey:%s Front:%s Back:%s}",
		d.CaptureID, d.ServerSealed, d.ImageEncryption, maskBytes(d.EncryptionKey), d.Front, d.Back)
}

// GoString masks like String, for %#v.
func (d DocumentArguments) GoString() string { return d.String() }

// Format masks under every verb.
func (d DocumentArguments) Format(f fmt.State, _ rune) { fmt.Fprint(f, d.String()) }

// LogValue masks in slog output.
func (d DocumentArguments) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("capture_id", d.CaptureID),
		slog.Bool("server_sealed", d.ServerSealed),
		slog.String("image_encryption", d.ImageEncryption),
		slog.String("encryption_key", maskBytes(d.EncryptionKey)),
		slog.Any("front", d.Front),
		slog.Any("back", d.Back),
	)
}

// String masks the IV and URL, showing only which are empty.
func (i DocumentImage) String() string {
	return fmt.Sprintf("idv.DocumentImage{IV:%s URL:%s}", maskBytes(i.IV), maskString(i.URL))
}

// GoString masks like String, for %#v.
func (i DocumentImage) GoString() string { return i.String() }

// Format masks under every verb.
func (i DocumentImage) Format(f fmt.State, _ rune) { fmt.Fprint(f, i.String()) }

// LogValue masks in slog output.
func (i DocumentImage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("iv", maskBytes(i.IV)), slog.String("url", maskString(i.URL)))
}

// String masks the applicant.
func (a ResolutionArguments) String() string {
	return "idv.ResolutionArguments{Applicant:" + masked + "}"
}

// GoString masks like String, for %#v.
func (a ResolutionArguments) GoString() string { return a.String() }

// Format masks under every verb.
func (a ResolutionArguments) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// LogValue masks in slog output.
func (a ResolutionArguments) LogValue() slog.Value {
	return slog.GroupValue(slog.String("applicant", masked))
}

// String masks the applicant.
func (a AddressArguments) String() string {
	return "idv.AddressArguments{Applicant:" + masked + "}"
}

// GoString masks like String, for %#v.
func (a AddressArguments) GoString() string { return a.String() }

// Format masks under every verb.
func (a AddressArguments) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// LogValue masks in slog output.
func (a AddressArguments) LogValue() slog.Value {
	return slog.GroupValue(slog.String("applicant", masked))
}

// String shows the outcome, stages and failed attributes (PII-free by
// contract: vendor names, codes, attribute names) and masks the applicant
// read from a document.
func (r ProofingResult) String() string {
	stages := make([]string, len(r.Stages))
	for i, s := range r.Stages {
		stages[i] = s.Name + ":" + string(s.Result.Outcome())
	}
	return fmt.Sprintf("idv.ProofingResult{Outcome:%s Stages:[%s] Applicant:%s FailedAttributes:[%s] FinishedAt:%s}",
		r.Outcome, strings.Join(stages, " "), maskApplicant(r.Applicant), strings.Join(r.FailedAttributes, " "),
		r.FinishedAt.Format("2006-01-02T15:04:05.000Z07:00"))
}

// GoString masks like String, for %#v.
func (r ProofingResult) GoString() string { return r.String() }

// Format masks under every verb.
func (r ProofingResult) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue masks in slog output.
func (r ProofingResult) LogValue() slog.Value {
	stages := make([]string, len(r.Stages))
	for i, s := range r.Stages {
		stages[i] = s.Name + ":" + string(s.Result.Outcome())
	}
	return slog.GroupValue(
		slog.String("outcome", string(r.Outcome)),
		slog.Any("stages", stages),
		slog.String("applicant", maskApplicant(r.Applicant)),
		slog.Any("failed_attributes", r.FailedAttributes),
		slog.Time("finished_at", r.FinishedAt),
	)
}

// String shows the status and the masked result.
func (r AsyncResult) String() string {
	res := "<nil>"
	if r.Result != nil {
		res = r.Result.String()
	}
	return "idv.AsyncResult{Status:" + string(r.Status) + " Result:" + res + "}"
}

// GoString masks like String, for %#v.
func (r AsyncResult) GoString() string { return r.String() }

// Format masks under every verb.
func (r AsyncResult) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue masks in slog output.
func (r AsyncResult) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("status", string(r.Status))}
	if r.Result != nil {
		attrs = append(attrs, slog.Any("result", r.Result.LogValue()))
	}
	return slog.GroupValue(attrs...)
}

// maskBytes says whether a secret is present, never what it is.
func maskBytes(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	return masked
}

func maskString(s string) string {
	if s == "" {
		return `""`
	}
	return masked
}

func maskApplicant(a *Applicant) string {
	if a == nil {
		return "<nil>"
	}
	return masked
}
