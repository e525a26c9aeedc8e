package idv

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The masking tests keep PII out of logs, error texts and panics as the
// domain grows. Fields that hold PII carry the struct tag pii:"true"; every
// type holding such a field, directly or nested, must mask it wherever it
// is printed. A field whose name looks like PII must say which it is, so a
// new one cannot slip in untagged.

// domainTypes maps every struct type declared in this package (outside
// tests) to its reflect.Type. TestEveryStructTypeIsRegistered fails when a
// new one is missing, so no type escapes the masking checks.
var domainTypes = map[string]reflect.Type{
	"Applicant":           reflect.TypeFor[Applicant](),
	"AsyncResult":         reflect.TypeFor[AsyncResult](),
	"Attempt":             reflect.TypeFor[Attempt](),
	"AddressArguments":    reflect.TypeFor[AddressArguments](),
	"CaptureSession":      reflect.TypeFor[CaptureSession](),
	"DocumentArguments":   reflect.TypeFor[DocumentArguments](),
	"DocumentImage":       reflect.TypeFor[DocumentImage](),
	"Error":               reflect.TypeFor[Error](),
	"Job":                 reflect.TypeFor[Job](),
	"JobInfo":             reflect.TypeFor[JobInfo](),
	"JobRun":              reflect.TypeFor[JobRun](),
	"NopObserver":         reflect.TypeFor[NopObserver](),
	"OutcomeRecord":       reflect.TypeFor[OutcomeRecord](),
	"ProofingResult":      reflect.TypeFor[ProofingResult](),
	"ResolutionArguments": reflect.TypeFor[ResolutionArguments](),
	"RelyingParty":        reflect.TypeFor[RelyingParty](),
	"Stage":               reflect.TypeFor[Stage](),
	"VendorResult":        reflect.TypeFor[VendorResult](),
	"Verification":        reflect.TypeFor[Verification](),
	"VerificationEvent":   reflect.TypeFor[VerificationEvent](),
	"StepRecord":          reflect.TypeFor[StepRecord](),
	"jobInfoKey":          reflect.TypeFor[jobInfoKey](),
}

// notPIIByName lists fields whose names look like PII but are not, in
// files this check could not tag (prefer pii:"false" with a comment on the
// field itself). Each entry says why.
var notPIIByName = map[string]string{}

// piiWords are the words of a field name (split at camel case) that suggest
// it holds PII or something that unlocks it.
var piiWords = map[string]bool{
	"name": true, "surname": true, "ssn": true, "social": true, "dob": true, "birth": true,
	"birthdate": true, "birthday": true, "address": true, "addr": true, "street": true, "city": true,
	"zip": true, "zipcode": true, "postal": true, "postcode": true, "state": true, "phone": true,
	"mobile": true, "email": true, "license": true, "passport": true, "jurisdiction": true,
	"key": true, "iv": true, "nonce": true, "url": true, "uri": true, "image": true, "photo": true,
	"selfie": true, "picture": true, "barcode": true, "plaintext": true, "payload": true,
	"arguments": true, "args": true,
}

// looksLikePII reports whether a field name suggests PII.
func looksLikePII(field string) bool {
	words := splitWords(field)
	for i, w := range words {
		if piiWords[w] || piiWords[strings.TrimSuffix(w, "s")] {
			return true
		}
		if w == "id" && i+1 < len(words) && words[i+1] == "number" {
			return true
		}
	}
	return false
}

// splitWords splits a Go identifier into lower-case words at case changes,
// keeping acronyms whole: StateIDNumber is state, id, number; ZIPCode is
// zip, code; FrontIV is front, iv; Address1 is address, 1.
func splitWords(s string) []string {
	rs := []rune(s)
	var words []string
	start := 0
	for i := 1; i < len(rs); i++ {
		prev, cur := rs[i-1], rs[i]
		next := rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		// An acronym's plural (URLs, IVs) stays one word.
		plural := next == 's' && (i+2 == len(rs) || !unicode.IsLower(rs[i+2]))
		switch {
		case unicode.IsUpper(cur) && (unicode.IsLower(prev) || unicode.IsDigit(prev)),
			unicode.IsUpper(cur) && unicode.IsUpper(prev) && unicode.IsLower(next) && !plural,
			unicode.IsDigit(cur) != unicode.IsDigit(prev),
			cur == '_':
			words = append(words, strings.ToLower(string(rs[start:i])))
			start = i
		}
		if rs[start] == '_' {
			start++
		}
	}
	return append(words, strings.ToLower(string(rs[start:])))
}

func TestSplitWords(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"StateIDNumber": "state id number", "ZIPCode": "zip code", "FrontIV": "front iv",
		"Address1": "address 1", "DOB": "dob", "EncryptedArguments": "encrypted arguments",
		"first_name": "first name", "URLs": "urls", "ImageURLs": "image urls", "IVsSent": "ivs sent",
	} {
		if got := strings.Join(splitWords(in), " "); got != want {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{
		"FirstName": true, "SSN": true, "Phone": true, "HomeAddress": true, "ZIPCode": true,
		"DocumentIDNumber": true, "FrontURL": true, "EncryptionKey": true, "SelfieImage": true,
		"Email": true, "ResultID": false, "TraceID": false, "Outcome": false, "Kind": false,
		"Vendor": false, "DurationMS": false, "BackIVs": true, "CaptureID": false, "Status": false,
	} {
		if got := looksLikePII(name); got != want {
			t.Errorf("looksLikePII(%q) = %v, want %v", name, got, want)
		}
	}
}

// structDecl is one struct type declared in the package.
type structDecl struct {
	name string
	file string
	st   *ast.StructType
}

// parsePackage returns every struct type declared in the package's
// non-test files, found with go/parser so none is missed.
func parsePackage(t *testing.T) []structDecl {
	t.Helper()
	fset := token.NewFileSet()
	files, err := fs.Glob(os.DirFS("."), "*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []structDecl
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "idv" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					out = append(out, structDecl{name: ts.Name.Name, file: name, st: st})
				}
			}
			return true
		})
	}
	if len(out) < 10 {
		t.Fatalf("found only %d struct types: is the test running in the package directory?", len(out))
	}
	return out
}

func TestEveryStructTypeIsRegistered(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, d := range parsePackage(t) {
		seen[d.name] = true
		if _, ok := domainTypes[d.name]; !ok {
			t.Errorf("%s: struct type %s is not in domainTypes in mask_test.go: add it so the masking checks cover it", d.file, d.name)
		}
	}
	for name := range domainTypes {
		if !seen[name] {
			t.Errorf("domainTypes lists %s, which the package no longer declares", name)
		}
	}
}

// TestPIILookingFieldsAreTagged fails when a field whose name suggests PII
// has no pii tag, so a new field has to be declared one or the other.
func TestPIILookingFieldsAreTagged(t *testing.T) {
	t.Parallel()
	for _, d := range parsePackage(t) {
		for _, f := range d.st.Fields.List {
			for _, n := range fieldNames(f) {
				id := d.name + "." + n
				tag := piiTag(f)
				switch {
				case tag == "true":
				case tag == "false":
					if f.Doc == nil && f.Comment == nil {
						t.Errorf(`%s: field %s is tagged pii:"false" without a comment saying why it is not PII`, d.file, id)
					}
				case tag != "":
					t.Errorf(`%s: field %s has pii:%q; want "true" or "false"`, d.file, id, tag)
				case looksLikePII(n) && notPIIByName[id] == "":
					t.Errorf(`%s: field %s looks like PII: tag it pii:"true" (and make %s mask it, see mask.go), `+
						`or pii:"false" with a comment saying why it is not`, d.file, id, d.name)
				}
			}
		}
	}
	for id := range notPIIByName {
		name, field, _ := strings.Cut(id, ".")
		if typ, ok := domainTypes[name]; !ok {
			t.Errorf("notPIIByName lists %s of unknown type %s", id, name)
		} else if _, ok := typ.FieldByName(field); !ok {
			t.Errorf("notPIIByName lists %s, which does not exist", id)
		}
	}
}

func fieldNames(f *ast.Field) []string {
	if len(f.Names) == 0 { // embedded
		switch x := f.Type.(type) {
		case *ast.Ident:
			return []string{x.Name}
		case *ast.StarExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				return []string{id.Name}
			}
		case *ast.SelectorExpr:
			return []string{x.Sel.Name}
		}
		return nil
	}
	var out []string
	for _, n := range f.Names {
		out = append(out, n.Name)
	}
	return out
}

func piiTag(f *ast.Field) string {
	if f.Tag == nil {
		return ""
	}
	raw, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	return reflect.StructTag(raw).Get("pii")
}

// holdsPII reports whether values of t can carry a pii:"true" field.
func holdsPII(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsPII(t.Elem(), seen)
	case reflect.Map:
		return holdsPII(t.Key(), seen) || holdsPII(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("pii") == "true" || holdsPII(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// fill sets every pii:"true" field reachable from v to a distinct canary,
// allocating the pointers, slices and maps on the way, and returns the
// canaries it set.
func fill(t *testing.T, v reflect.Value, path string, canaries *[]string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if !holdsPII(v.Type(), map[reflect.Type]bool{}) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(t, v.Elem(), path, canaries)
	case reflect.Slice:
		if !holdsPII(v.Type(), map[reflect.Type]bool{}) {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), path+"[0]", canaries)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), canaries)
		}
	case reflect.Map:
		if !holdsPII(v.Type(), map[reflect.Type]bool{}) {
			return
		}
		t.Fatalf("%s: filling maps that hold PII is not implemented; extend fill", path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			fpath := path + "." + f.Name
			if !f.IsExported() {
				if holdsPII(f.Type, map[reflect.Type]bool{}) {
					t.Fatalf("%s: unexported field holds PII; extend fill", fpath)
				}
				continue
			}
			if f.Tag.Get("pii") != "true" {
				fill(t, fv, fpath, canaries)
				continue
			}
			c := fmt.Sprintf("CANARY%dx%s", len(*canaries), strings.ReplaceAll(fpath, ".", "x"))
			switch {
			case fv.Kind() == reflect.String:
				fv.SetString(c)
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Uint8:
				fv.SetBytes([]byte(c))
			default:
				t.Fatalf("%s: cannot fill a pii field of type %s with a canary; extend fill", fpath, fv.Type())
			}
			*canaries = append(*canaries, c)
		}
	}
}

// leaks returns the canary that out shows, in any encoding a printer
// might use for a string or byte slice, or "".
func leaks(out string, canaries []string) string {
	for _, c := range canaries {
		b := []byte(c)
		forms := []string{c, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			strings.Trim(fmt.Sprint(b), "[]"), fmt.Sprintf("%#v", b)[len("[]byte{"):], strconv.Quote(c)}
		for _, f := range forms {
			// The first dozen bytes of a form are enough to give a value away.
			if len(f) > 24 {
				f = f[:24]
			}
			if strings.Contains(out, f) {
				return c
			}
		}
	}
	return ""
}

// printings renders v in every way code prints or logs a value.
func printings(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v", "%10.3v", "%-v"} {
		out["fmt "+verb] = fmt.Sprintf(verb, v)
	}
	out["fmt Sprint"] = fmt.Sprint(v)
	out["fmt Sprintln"] = fmt.Sprintln("value", v)
	out["fmt slice"] = fmt.Sprintf("%+v", []any{v})
	out["fmt map"] = fmt.Sprintf("%v", map[string]any{"v": v})
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("attr", "value", v)
		log.Info("any", slog.Any("value", v))
		log.Info("group", slog.Group("g", slog.Any("value", v)))
		log.With("with", v).Info("with")
		log.WithGroup("wg").Info("nested", "value", v)
		if name == "text" {
			// The JSON handler encodes a slice or map with encoding/json,
			// which no method of the element can mask without also
			// breaking how values are sealed: log PII-bearing values one
			// by one, never inside a slice or map.
			log.Info("list", "values", []any{v})
		}
		out["slog "+name] = buf.String()
	}
	err := fmt.Errorf("job failed for %v", v)
	out["errors Errorf"] = err.Error()
	out["errors Errorf %+v"] = fmt.Errorf("%+v", v).Error()
	joined := errors.Join(err, fmt.Errorf("value %#v", v), errors.New(fmt.Sprint(v)))
	out["errors Join"] = joined.Error()
	out["errors Join %+v"] = fmt.Sprintf("%+v", joined)
	return out
}

// TestPIITypesMask fills every PII field of every type that holds PII with
// canaries and prints the value, and a pointer to it, every way: no canary
// may show.
func TestPIITypesMask(t *testing.T) {
	t.Parallel()
	var checked []string
	for _, name := range slices.Sorted(maps.Keys(domainTypes)) {
		typ := domainTypes[name]
		if !holdsPII(typ, map[reflect.Type]bool{}) {
			continue
		}
		checked = append(checked, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ptr := reflect.New(typ)
			var canaries []string
			fill(t, ptr.Elem(), name, &canaries)
			if len(canaries) == 0 {
				t.Fatalf("%s holds PII but no canary could be set", name)
			}
			for form, v := range map[string]any{"value": ptr.Elem().Interface(), "pointer": ptr.Interface()} {
				for how, out := range printings(v) {
					if c := leaks(out, canaries); c != "" {
						t.Errorf("%s as %s through %s shows PII (%s):\n%s", name, form, how, c, out)
					}
				}
			}
		})
	}
	for _, must := range []string{"Applicant", "DocumentArguments", "DocumentImage", "ResolutionArguments", "AddressArguments", "ProofingResult", "AsyncResult"} {
		if !slices.Contains(checked, must) {
			t.Errorf("%s is not detected as holding PII: are its fields tagged?", must)
		}
	}
}

// TestMaskedOutputKeepsWhatHelps checks that masking keeps the non-PII
// fields an operator needs.
func TestMaskedOutputKeepsWhatHelps(t *testing.T) {
	t.Parallel()
	r := AsyncResult{Status: StatusDone, Result: &ProofingResult{
		Outcome: OutcomeFailure, Applicant: &Applicant{FirstName: "Jane"},
		Stages:           []Stage{{Name: "resolution", Result: VendorResult{Vendor: "sim", Success: false}}},
		FailedAttributes: []string{"ssn"},
	}}
	out := fmt.Sprintf("%v", r)
	for _, want := range []string{"done", "failure", "resolution:failure", "ssn", masked} {
		if !strings.Contains(out, want) {
			t.Errorf("%q does not show %q", out, want)
		}
	}
	d := DocumentArguments{CaptureID: "cap-1", EncryptionKey: []byte("k")}
	if out := fmt.Sprint(d); !strings.Contains(out, "cap-1") || !strings.Contains(out, `Front:idv.DocumentImage{IV:"" URL:""}`) {
		t.Errorf("%q does not show the capture id and which fields are empty", out)
	}
}
