package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/idv-dev/idv"
)

// Rendering: the embedded templates (layout plus one page each), the data
// every page gets, and JSON answers.

func (s *Server) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	return nil
}

// formField is one labelled input, with its error.
type formField struct {
	Name, Label, Value, Error, Autocomplete, Type string
	// InputMode is the keyboard a phone shows (numeric: digits only).
	InputMode string
	// Masked: mask.js masks what is typed, with a button that shows it.
	Masked bool
	// Hint is said under the label (and read with the field).
	Hint string
	// Width sizes the box to what it holds (2, 4, 5, 10, 20 characters).
	Width string
}

// WithHint adds a hint under the label.
func (f formField) WithHint(h string) formField { f.Hint = h; return f }

// Sized sizes the box to w characters.
func (f formField) Sized(w string) formField { f.Width = w; return f }

// Numeric asks phones for a digits keyboard.
func (f formField) Numeric() formField { f.InputMode = "numeric"; return f }

// Mask has what is typed masked, with a show/hide button: a text field, not
// a password field, so the browser does not offer to save it.
func (f formField) Mask() formField { f.Masked = true; return f }

// uploadField is one image input of the document page.
type uploadField struct {
	Side, Label, Error, Accept string
	Presigned                  bool
}

var stageNames = map[string]string{
	"resolution": "an identity records service",
	"state_id":   "the state that issued your ID",
	"phone":      "your phone company's records",
	"document":   "a check of your ID's images",
}

var templateFuncs = template.FuncMap{
	"field": func(name, label, value string, errs idv.FieldErrors, autocomplete, typ string) formField {
		return formField{Name: name, Label: label, Value: value, Error: errs[name], Autocomplete: autocomplete, Type: typ}
	},
	"upload": func(side, label string, p documentPage) uploadField {
		return uploadField{Side: side, Label: label, Error: p.Errors[side], Accept: p.Accept, Presigned: p.Presigned}
	},
	"stageName": func(name string) string { return cmp.Or(stageNames[name], name) },
	"states":    func() []usState { return usStates },
	"add":       func(a, b int) int { return a + b },
}

// usState is one choice of the state lists.
type usState struct{ Code, Name string }

// usStates are the states, the District of Columbia and the territories
// that issue IDs, by name.
var usStates = []usState{
	{"AL", "Alabama"}, {"AK", "Alaska"}, {"AS", "American Samoa"}, {"AZ", "Arizona"}, {"AR", "Arkansas"},
	{"CA", "California"}, {"CO", "Colorado"}, {"CT", "Connecticut"}, {"DE", "Delaware"},
	{"DC", "District of Columbia"}, {"FL", "Florida"}, {"GA", "Georgia"}, {"GU", "Guam"}, {"HI", "Hawaii"},
	{"ID", "Idaho"}, {"IL", "Illinois"}, {"IN", "Indiana"}, {"IA", "Iowa"}, {"KS", "Kansas"},
	{"KY", "Kentucky"}, {"LA", "Louisiana"}, {"ME", "Maine"}, {"MD", "Maryland"}, {"MA", "Massachusetts"},
	{"MI", "Michigan"}, {"MN", "Minnesota"}, {"MS", "Mississippi"}, {"MO", "Missouri"}, {"MT", "Montana"},
	{"NE", "Nebraska"}, {"NV", "Nevada"}, {"NH", "New Hampshire"}, {"NJ", "New Jersey"}, {"NM", "New Mexico"},
	{"NY", "New York"}, {"NC", "North Carolina"}, {"ND", "North Dakota"}, {"MP", "Northern Mariana Islands"},
	{"OH", "Ohio"}, {"OK", "Oklahoma"}, {"OR", "Oregon"}, {"PA", "Pennsylvania"}, {"PR", "Puerto Rico"},
	{"RI", "Rhode Island"}, {"SC", "South Carolina"}, {"SD", "South Dakota"}, {"TN", "Tennessee"},
	{"TX", "Texas"}, {"VI", "U.S. Virgin Islands"}, {"UT", "Utah"}, {"VT", "Vermont"}, {"VA", "Virginia"},
	{"WA", "Washington"}, {"WV", "West Virginia"}, {"WI", "Wisconsin"}, {"WY", "Wyoming"},
}

// page is the data every template gets.
type page struct {
	Title string
	// Flash is a calm notice above the page (an attempt whose result
	// never came).
	Flash   string
	Refresh int // seconds; a meta refresh for browsers without JavaScript
	// Step is where the page is in the flow ("Step 2 of 3"); zero: none.
	Step stepPosition
	// Errors are the form's errors, listed in the error summary in the
	// form's order, each linking to its field; the title then starts with
	// "Error: ".
	Errors []summaryError
	Data   any
}

// stepPosition is a step page's place in the person's flow.
type stepPosition struct {
	N, Of int
	Title string
}

// summaryError is one entry of a form's error summary.
type summaryError struct {
	Field   string // the id of the input it links to
	Message string
}

// summarize lists fe in the order of fields (the form's order), each
// linking to its input (anchors maps a field to its input's id when they
// differ: the date of birth's first box). Errors of fields not in the list
// come last, sorted.
func summarize(fe idv.FieldErrors, fields []string, anchors map[string]string) []summaryError {
	var out []summaryError
	seen := map[string]bool{}
	add := func(f string) {
		if msg, ok := fe[f]; ok && !seen[f] {
			seen[f] = true
			out = append(out, summaryError{Field: cmp.Or(anchors[f], f), Message: msg})
		}
	}
	for _, f := range fields {
		add(f)
	}
	for _, f := range slices.Sorted(maps.Keys(fe)) {
		add(f)
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if len(p.Errors) > 0 {
		p.Title = "Error: " + p.Title
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.log.ErrorContext(r.Context(), "render failed", "template", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
