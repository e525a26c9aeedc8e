package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/jobs"
	"github.com/idv-dev/idv/objects/local"
	"github.com/idv-dev/idv/objects/s3"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/web"
)

// openS3 opens the bucket of document images.
func openS3(ctx context.Context, cfg config.Config) (*s3.Store, error) {
	o := cfg.Objects
	return s3.New(ctx, s3.Config{
		Bucket: o.Bucket, Region: o.Region, Endpoint: o.Endpoint, PathStyle: o.PathStyle,
		AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey,
	})
}

// openLocalObjects is `idv dev`'s object store: a folder under the data
// directory whose signed upload URLs point at the web server at baseURL.
// The signing secret lives for this run only: so do the pages holding URLs.
func openLocalObjects(dir, baseURL string) (*local.Store, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return local.New(local.Config{Dir: dir, BaseURL: baseURL, Secret: secret})
}

// documentOptions configure the web tier's document step, or nil when the
// step is off.
func documentOptions(cfg config.Config, store idv.ObjectStore) *web.DocumentOptions {
	if !cfg.DocAuth.Enabled {
		return nil
	}
	return &web.DocumentOptions{Objects: store, Presigned: cfg.DocAuth.PresignedUploads,
		URLExpiry: cfg.DocAuth.EffectiveUploadURLExpiry(cfg.Web), AllowTestFiles: cfg.DocAuth.AllowTestFiles}
}

// uploadOrigin is the origin the browser PUTs images to, for the pages'
// Content-Security-Policy connect-src. It is read off a URL the store
// signs, so it is right for AWS and S3-compatible endpoints alike; signing
// makes no request.
func uploadOrigin(ctx context.Context, store idv.ObjectStore) ([]string, error) {
	raw, err := store.PresignPut(ctx, idv.DocumentImageKey("origin-probe", idv.SideFront), time.Minute)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("object store signed an unparseable URL: %w", err)
	}
	return []string{u.Scheme + "://" + u.Host}, nil
}

// addDocumentHandler registers the document job on the runner the other
// kinds share, when the vendor and the store are configured.
func addDocumentHandler(h map[idv.JobKind]idv.JobHandler, store idv.ObjectStore, vc *vendors.Clients) error {
	if store == nil {
		return nil
	}
	if vc.Document == nil {
		return fmt.Errorf("vendors.document.url (or vendors.base_url) is required while doc_auth.enabled is true")
	}
	res, ok := h[idv.JobResolution].(*jobs.Resolution)
	if !ok {
		return fmt.Errorf("internal: no resolution handler to share a runner with")
	}
	h[idv.JobDocument] = &jobs.Document{Runner: res.Runner, Objects: store, Vendor: vc.Document}
	return nil
}

// runStorage prepares the bucket for pre-signed uploads: creates it when
// missing and sets the CORS rule that lets pages from objects.cors_origin
// (and only them) PUT images.
func runStorage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("storage", "Create the document bucket (objects.bucket) if it is missing and set its CORS rule so\nbrowsers on objects.cors_origin can upload encrypted images to it (safe to run again).", stdout, false, "")
	cfg, err := f.load(args)
	if err != nil {
		return err
	}
	switch {
	case cfg.Objects.Bucket == "":
		return fmt.Errorf("objects.bucket: is required (IDV_OBJECTS_BUCKET)")
	case cfg.Objects.CORSOrigin == "":
		return fmt.Errorf("objects.cors_origin: is required: the origin of idv's pages, e.g. https://idv.example.gov")
	}
	if err := cfg.Validate(0); err != nil { // the settings every role checks
		return err
	}
	store, err := openS3(ctx, cfg)
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return err
	}
	if err := store.SetCORS(ctx, []string{cfg.Objects.CORSOrigin}, time.Hour); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bucket %s ready: uploads allowed from %s\n", cfg.Objects.Bucket, cfg.Objects.CORSOrigin)
	return nil
}
