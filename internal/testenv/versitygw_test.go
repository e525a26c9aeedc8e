package testenv

import (
	"context"
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
