package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// apiClient calls idv's REST API as the demo relying party.
type apiClient struct {
	base, key string
	client    *http.Client
}

type createRequest struct {
	ClientReferenceID string            `json:"client_reference_id"`
	Steps             []string          `json:"steps,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
}

// verification is what the demo reads of the API's Verification: ids,
// statuses and counts. It has no field for outputs, so none is kept.
type verification struct {
	ID                string     `json:"id"`
	Status            string     `json:"status"`
	ClientReferenceID string     `json:"client_reference_id"`
	Steps             []step     `json:"steps"`
	LastError         *string    `json:"last_error"`
	CreatedAt         time.Time  `json:"created_at"`
	FinishedAt        *time.Time `json:"finished_at"`
	URL               string     `json:"url"`
	Receipt           string     `json:"receipt"`
}

type step struct {
	Step         string `json:"step"`
	Status       string `json:"status"`
	Attempts     int    `json:"attempts"`
	AttemptsLeft int    `json:"attempts_left"`
}

// Final reports whether the verification ended.
func (v verification) Final() bool {
	switch v.Status {
	case "verified", "failed", "canceled", "expired":
		return true
	}
	return false
}

// problem is the API's application/problem+json answer.
type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func (p *problem) Error() string {
	return fmt.Sprintf("idv API: %d %s: %s", p.Status, p.Code, p.Detail)
}

// create is POST /v1/verifications with an Idempotency-Key.
func (c *apiClient) create(ctx context.Context, idempotencyKey string, req createRequest) (verification, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return verification{}, err
	}
	var v verification
	err = c.do(ctx, http.MethodPost, "/v1/verifications", bytes.NewReader(body), map[string]string{
		"Content-Type": "application/json", "Idempotency-Key": idempotencyKey}, &v)
	return v, err
}

// get is GET /v1/verifications/{id}.
func (c *apiClient) get(ctx context.Context, id string) (verification, error) {
	var v verification
	err := c.do(ctx, http.MethodGet, "/v1/verifications/"+url.PathEscape(id), nil, nil, &v)
	return v, err
}

func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, headers map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("idv API: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("idv API: %w", err)
	}
	if res.StatusCode/100 != 2 {
		p := &problem{Status: res.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Code == "" {
			p.Code, p.Detail = "unexpected", http.StatusText(res.StatusCode)
		}
		return p
	}
	return json.Unmarshal(b, out)
}
