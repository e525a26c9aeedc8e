package app_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/imagekey"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv/flow"
)

// openRecorder is a sealer that remembers the AAD of everything it opens.
type openRecorder struct {
	idv.Sealer
	mu   sync.Mutex
	aads [][]byte
}

func (r *openRecorder) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	r.mu.Lock()
	r.aads = append(r.aads, bytes.Clone(aad))
	r.mu.Unlock()
	return r.Sealer.Open(ctx, sealed, aad)
}

// `idv web` under hpke puts the workers' current public key on the capture
// page and never unseals an image key: every value its sealer opens while
// it starts and serves the page is recorded, and none is an image key (the
// AAD of sealed image keys is imagekey.PrivateKeyAAD). The web role's
// components have no image keys at all.
func TestWebNeverUnsealsImageKeys(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := production(t, ctx)
	cfg.DocAuth.Enabled = true
	// Signing upload URLs makes no request: no S3 is needed to render.
	cfg.Objects = config.Objects{Bucket: "photos", Region: "us-east-1", Endpoint: "http://127.0.0.1:9", PathStyle: true,
		AccessKeyID: "test", SecretAccessKey: "test-secret"}
	if err := cfg.Validate(config.RoleWeb); err != nil {
		t.Fatal(err)
	}
	c, err := app.Open(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// The workers' key, made as a worker makes it at start-up.
	keys, err := imagekey.New(c.Queue.ImageKeys(), c.Sealer, imagekey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kid, err := keys.EnsureKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := &openRecorder{Sealer: c.Sealer}
	c.Sealer = rec
	base := run(t, ctx, func(ctx context.Context) (*app.Role, error) { return app.StartWeb(ctx, c) })

	admin, err := app.OpenAdmin(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	created, err := admin.CreateRelyingParty(ctx, app.NewRelyingParty{Name: "Test", ReturnURLs: []string{"https://rp.test/done"}})
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	v, err := flow.NewRP(base, created.APIKey, nil).Create(ctx, flow.NewVerification{ClientReferenceID: "hpke-1"})
	if err != nil {
		t.Fatal(err)
	}
	p := flow.New(base, nil)
	first, err := p.Start(ctx, v.URL)
	if err != nil || first != "/verify/document_capture" {
		t.Fatalf("start: %q, %v", first, err)
	}
	page, err := p.Do(ctx, "GET", first, nil)
	if err != nil || page.Code != 200 || !strings.Contains(string(page.Body), `data-image-key-id="`+kid+`"`) {
		t.Fatalf("capture page: %d, %v: %.400s", page.Code, err, page.Body)
	}

	if c.ImageKeys != nil {
		t.Error("the web role's components hold image keys")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.aads) == 0 {
		t.Fatal("the web role opened nothing: the recorder is not in its path")
	}
	for _, aad := range rec.aads {
		if bytes.HasPrefix(aad, imagekey.PrivateKeyAAD("")) {
			t.Fatalf("the web role unsealed an image key (%s)", aad)
		}
	}
}
