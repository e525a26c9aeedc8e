package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idv-dev/idv/internal/testenv/versitygw"
)

// S3Server is a real S3 endpoint (versitygw on a posix folder) started for
// one test, with a bucket of the test's own.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT; address buckets path-style
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	LogPath   string // versitygw's output
}

// VersitygwVersion is the versitygw release the tests are written against.
const VersitygwVersion = versitygw.Version

// S3 starts versitygw (github.com/versity/versitygw, an S3 gateway over a
// folder: SigV4, pre-signed URLs and bucket CORS like AWS) on a free
// loopback port with a fresh folder and random credentials, waits until it
// answers, and creates a bucket. It stops when the test ends. .ci/services
// installs versitygw; a test fails when it is missing.
func S3(t testing.TB) *S3Server {
	t.Helper()
	return S3On(t, "127.0.0.1")
}

// S3On is S3 listening on host, an address of this machine the test made
// (a bridge to its network namespaces) rather than loopback.
func S3On(t testing.TB, host string) *S3Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gw, err := versitygw.StartOn(ctx, t.TempDir(), host)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(gw.Stop)
	s := &S3Server{
		Endpoint: gw.Endpoint, Region: gw.Region, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey,
		Bucket:  strings.ReplaceAll(RandomName("idv-test-"), "_", "-"),
		LogPath: gw.LogPath,
	}
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("testenv: create bucket on versitygw: %v", err)
	}
	return s
}

// Client returns a plain SDK client for the server (path-style, static
// credentials), for tests that look behind the store under test.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		// versitygw, like AWS, accepts the SDK's default checksums; ask
		// only where required to match the adapter under test.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}
