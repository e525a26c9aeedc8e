package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
const VersitygwVersion = "v1.8.0"

// S3 starts versitygw (github.com/versity/versitygw, an S3 gateway over a
// folder: SigV4, pre-signed URLs and bucket CORS like AWS) on a free
// loopback port with a fresh folder and random credentials, waits until it
// answers, and creates a bucket. It stops when the test ends. .ci/services
// installs versitygw; a test fails when it is missing.
func S3(t testing.TB) *S3Server {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		t.Fatalf("testenv: versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@%s; .ci/services does)", VersitygwVersion)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &S3Server{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		Region:    "us-east-1",
		AccessKey: "AK" + strings.ToUpper(RandomName("")[:12]) + "TEST",
		SecretKey: rand.Text() + rand.Text()[:14],
		Bucket:    strings.ReplaceAll(RandomName("idv-test-"), "_", "-"),
		LogPath:   filepath.Join(dir, "versitygw.log"),
	}
	out, err := os.Create(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region,
		"--health", "/health",
		"--quiet",
		"posix", data)
	// Credentials go in flags, not the environment, so a developer's
	// ROOT_ACCESS_KEY and friends cannot leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		out.Close()
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(s.LogPath)
			t.Fatalf("testenv: versitygw exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.LogPath)
			t.Fatalf("testenv: versitygw did not answer on %s: %v\n%s", s.Endpoint, err, b)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is coming up
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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

// versitygwPath finds versitygw on PATH or in $(go env GOPATH)/bin, where
// go install puts it.
func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = filepath.SplitList(gp)
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = filepath.SplitList(strings.TrimSpace(string(out)))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
