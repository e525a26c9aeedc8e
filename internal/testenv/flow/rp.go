package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// RP is a relying party calling idv's REST API (DESIGN.md section 10) with
// its API key, as a service does: it creates a verification per person and
// sends the person to the verification's link (Person.Start).
type RP struct {
	Base   string // idv's http://host:port, where /v1/ is served
	Key    string // the API key, sent as Authorization: Bearer
	Client *http.Client
}

// NewRP returns a relying party calling base with key. tr nil is
// http.DefaultTransport.
func NewRP(base, key string, tr http.RoundTripper) *RP {
	return &RP{Base: base, Key: key, Client: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// APIResponse is one answer of the API, read whole.
type APIResponse struct {
	Code   int
	Header http.Header
	Body   []byte
}

// Call sends one API request with the key: body, when not nil, as JSON, and
// header's values besides. It returns the request too, so a test can
// validate the answer against the API's spec. An error is a transport
// error: problem answers are answers.
func (rp *RP) Call(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Request, APIResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rp.Base+path, rd)
	if err != nil {
		return nil, APIResponse{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+rp.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := rp.Client.Do(req)
	if err != nil {
		return req, APIResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return req, APIResponse{Code: res.StatusCode, Header: res.Header, Body: b}, err
}

// NewVerification is the body of POST /v1/verifications.
type NewVerification struct {
	ClientReferenceID string            `json:"client_reference_id"`
	ReturnURL         string            `json:"return_url,omitempty"`
	Steps             []string          `json:"steps,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
}

// Verification is what the API says of a verification (the fields tests
// read; api/openapi.yaml has them all).
type Verification struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	ClientReferenceID string `json:"client_reference_id"`
	Steps             []struct {
		Step         string `json:"step"`
		Status       string `json:"status"`
		Attempts     int    `json:"attempts"`
		AttemptsLeft int    `json:"attempts_left"`
	} `json:"steps"`
	LastError *string `json:"last_error"`
	// URL is the person's single-use link (answers to create and link).
	URL     string `json:"url"`
	Receipt string `json:"receipt"`
}

// Create makes a verification and returns the API's answer (201).
func (rp *RP) Create(ctx context.Context, nv NewVerification) (Verification, error) {
	b, err := json.Marshal(nv)
	if err != nil {
		return Verification{}, err
	}
	return rp.verification(ctx, http.MethodPost, "/v1/verifications", b, http.StatusCreated)
}

// Get reads a verification (200).
func (rp *RP) Get(ctx context.Context, id string) (Verification, error) {
	return rp.verification(ctx, http.MethodGet, "/v1/verifications/"+id, nil, http.StatusOK)
}

func (rp *RP) verification(ctx context.Context, method, path string, body []byte, want int) (Verification, error) {
	_, r, err := rp.Call(ctx, method, path, body, nil)
	if err != nil {
		return Verification{}, err
	}
	var v Verification
	if r.Code != want {
		return v, fmt.Errorf("%s %s: HTTP %d, want %d: %.300s", method, path, r.Code, want, r.Body)
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.ID == "" {
		return v, fmt.Errorf("%s %s: the answer is not a verification: %v", method, path, err)
	}
	return v, nil
}
