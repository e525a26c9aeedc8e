package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"riverqueue.com/riverui"
	"riverqueue.com/riverui/uiendpoints"

	"github.com/idv-dev/idv"
)

// adminArgsFields are the job argument fields the admin UI may show: the
// routing fields of jobArgs. Anything else in river_job.args (the sealed
// arguments, or a field added later) is replaced by hiddenValue.
var adminArgsFields = map[string]bool{"kind": true, "result_id": true, "trace_id": true, "enqueued_at": true}

const hiddenValue = "[hidden]"

// AdminHandler returns River's web UI (riverui) over this queue's jobs, for
// operators: queues, job states and counts, errors, cancel and retry. It
// serves under prefix (such as "/admin/jobs"): mount it at prefix and
// prefix+"/", behind authentication, since it authenticates no one itself
// and lets its user cancel, retry and delete jobs.
//
// Job arguments are hidden twice: the job list hides them by default, and
// every answer of the UI's API reduces them to the routing fields (kind,
// result id, trace id, enqueue time), so the sealed arguments never leave
// the database through it. The UI's background work stops when ctx ends.
func (q *Queue) AdminHandler(ctx context.Context, prefix string) (http.Handler, error) {
	var endpoints uiendpoints.Bundle
	switch b := q.b.(type) {
	case *postgres:
		endpoints = riverui.NewEndpoints(b.client, nil)
	case *sqliteDB:
		endpoints = riverui.NewEndpoints(b.client, nil)
	default:
		return nil, idv.Errorf(idv.EINTERNAL, "the jobs admin UI does not support this queue backend")
	}
	prefix = riverui.NormalizePathPrefix(prefix)
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints:                endpoints,
		JobListHideArgsByDefault: true,
		Logger:                   q.cfg.Logger,
		Prefix:                   prefix,
	})
	if err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "jobs admin UI", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, idv.WrapError(idv.EINTERNAL, "start the jobs admin UI", err)
	}
	return hideArgs(prefix, h), nil
}

// hideArgs rewrites the UI's job answers (GET prefix/api/jobs and
// prefix/api/jobs/{id}) so that job arguments keep only adminArgsFields.
func hideArgs(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, prefix)
		if r.Method != http.MethodGet || (p != "/api/jobs" && !strings.HasPrefix(p, "/api/jobs/")) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		body, err := redactArgs(rec.body.Bytes())
		if err != nil {
			if rec.code < 300 || bytes.Contains(rec.body.Bytes(), []byte(`"args"`)) {
				// Fail closed: an answer that cannot be filtered is not sent.
				http.Error(w, "cannot hide job arguments in this answer", http.StatusInternalServerError)
				return
			}
			body = rec.body.Bytes()
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.code)
		_, _ = w.Write(body)
	})
}

// recorder buffers an answer so hideArgs can rewrite it.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.body.Write(p)
}

// redactArgs replaces every "args" string in a JSON document (a job, or a
// list of jobs under "data") with its routing fields only.
func redactArgs(doc []byte) ([]byte, error) {
	if r := bytes.TrimSpace(doc); bytes.Equal(r, []byte("null")) || len(r) == 0 {
		return nil, fmt.Errorf("empty answer")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // job ids are int64
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(redactValue(v))
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "args" {
				x[k] = redactedArgs(e)
				continue
			}
			x[k] = redactValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = redactValue(e)
		}
	}
	return v
}

// redactedArgs returns the job arguments riverui sends (a JSON object
// encoded as a string) with every field but the routing ones hidden.
func redactedArgs(v any) any {
	s, ok := v.(string)
	if !ok {
		return "{}"
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return "{}"
	}
	for k := range fields {
		if !adminArgsFields[k] {
			fields[k] = json.RawMessage(strconv.Quote(hiddenValue))
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return "{}"
	}
	return string(b)
}
