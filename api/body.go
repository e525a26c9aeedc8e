package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeBody reads a JSON request body into dst, strictly: Content-Type
// application/json, at most MaxBodyBytes, one JSON object with no field dst
// does not have and no value of the wrong type. The problems name the field
// but never quote the body. With optional set, an empty body is accepted
// (the action routes take none) and leaves dst as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	if r.ContentLength > MaxBodyBytes {
		return tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return tooLarge
	case err != nil:
		return invalid("", "the request body could not be read")
	case len(bytes.TrimSpace(body)) == 0 && optional:
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &Problem{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Detail: "send the body as Content-Type: application/json"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "the request body has data after its JSON object")
	}
	return nil
}

var tooLarge = &Problem{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
	Detail: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)}

// jsonProblem describes a decoding error by position or field only:
// encoding/json's own messages may quote the offending value.
func jsonProblem(err error) *Problem {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("", fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "the request body is not valid JSON (it ends too early)")
	case errors.As(err, &typ) && typ.Field == "":
		return invalid("", "the request body must be a JSON object")
	case errors.As(err, &typ):
		return invalid(typ.Field, fmt.Sprintf("%s must be %s", typ.Field, jsonKind(typ.Type.String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if len(field) > 64 {
			field = field[:64] + "..."
		}
		return invalid(field, fmt.Sprintf("unknown field %q", field))
	}
	return invalid("", "the request body could not be decoded")
}

// jsonKind names a Go type the way the API documentation does.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case goType == "string" || strings.HasSuffix(goType, "Name"):
		return "a string"
	}
	return "of another type"
}
