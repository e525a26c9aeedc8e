package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
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
	// Masked: reveal.js masks what is typed, with a button that shows it.
	Masked bool
}

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
}

// page is the data every template gets.
type page struct {
	Title   string
	Flash   string
	Refresh int // seconds; a meta refresh for browsers without JavaScript
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.log.ErrorContext(r.Context(), "no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
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
