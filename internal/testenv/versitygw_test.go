package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestS3StartsVersitygwWithABucket(t *testing.T) {
	t.Parallel()
	var srv *S3Server
	t.Run("server", func(t *testing.T) {
		srv = S3(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if _, err := srv.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(srv.Bucket)}); err != nil {
			t.Fatalf("HeadBucket: %v", err)
		}
		if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
			t.Errorf("Endpoint %s is not on loopback", srv.Endpoint)
		}
	})
	// After the subtest's cleanup the server is gone.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := srv.Client().ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Error("versitygw still answers after the test ended")
	}
}

// TestVersitygwPath checks where the binary is looked for: PATH first, then
// GOPATH/bin. Not parallel: it changes the environment.
func TestVersitygwPath(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("HOME", empty)
	gopath := t.TempDir()
	t.Setenv("GOPATH", gopath)
	if p := versitygwPath(); p != "" {
		t.Fatalf("found %s with nothing installed", p)
	}
	if err := os.Mkdir(gopath+"/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gopath+"/bin/versitygw", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p := versitygwPath(); p != gopath+"/bin/versitygw" {
		t.Fatalf("versitygwPath = %q, want the one in GOPATH/bin", p)
	}
}
