package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/idv-dev/idv/internal/app"
)

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
	store, err := app.OpenS3(ctx, cfg)
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
