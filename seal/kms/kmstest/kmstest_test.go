package kmstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/idv-dev/idv/seal/kms/kmstest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// TestSDKOperations drives each operation through the real SDK client and
// checks KMS's semantics the wrapper relies on.
func TestSDKOperations(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	c := srv.Client()
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	ec := map[string]string{"purpose": "test", "tenant": "a"}

	gen, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyA), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Plaintext) != 32 || aws.ToString(gen.KeyId) != keyA {
		t.Fatalf("GenerateDataKey: %d-byte key under %s", len(gen.Plaintext), aws.ToString(gen.KeyId))
	}
	enc, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(keyB), Plaintext: []byte("hello"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		in       *awskms.DecryptInput
		want     []byte
		wantCode string
	}{
		{"data key, same context", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "a", "purpose": "test"}}, gen.Plaintext, ""},
		{"naming its key", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String(keyA), EncryptionContext: ec}, gen.Plaintext, ""},
		{"encrypted value", &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}, []byte("hello"), ""},
		{"another context", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "test"}}, nil, "InvalidCiphertextException"},
		{"no context", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}, nil, "InvalidCiphertextException"},
		{"naming another key", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String(keyB), EncryptionContext: ec}, nil, "IncorrectKeyException"},
		{"naming an unknown key", &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String("alias/none"), EncryptionContext: ec}, nil, "NotFoundException"},
		{"garbage", &awskms.DecryptInput{CiphertextBlob: []byte("not a blob"), EncryptionContext: ec}, nil, "InvalidCiphertextException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Decrypt(ctx(t), tc.in)
			if tc.wantCode != "" {
				if got := errorCode(err); got != tc.wantCode {
					t.Fatalf("Decrypt error %v (code %q), want %s", err, got, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Plaintext, tc.want) {
				t.Fatalf("Decrypt = %x, want %x", out.Plaintext, tc.want)
			}
		})
	}

	srv.DisableKey(keyA)
	if _, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec}); errorCode(err) != "DisabledException" {
		t.Fatalf("Decrypt under a disabled key: %v", err)
	}
	srv.DeleteKey(keyA)
	if _, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyA), KeySpec: types.DataKeySpecAes256}); errorCode(err) != "NotFoundException" {
		t.Fatalf("GenerateDataKey under a deleted key: %v", err)
	}
	if got := srv.Calls(kmstest.OpDecrypt); got != len(tests)+1 {
		t.Fatalf("Decrypt calls = %d, want %d", got, len(tests)+1)
	}
}

// TestSignatureChecked: a client with the right key id but the wrong secret
// or region is refused, as by KMS.
func TestSignatureChecked(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	key := srv.CreateKey()
	for name, opt := range map[string]func(*awskms.Options){
		"wrong secret": func(o *awskms.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(kmstest.AccessKeyID, "wrong", "")
		},
		"wrong region": func(o *awskms.Options) { o.Region = "eu-west-1" },
	} {
		_, err := srv.Client(opt).GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256})
		if got := errorCode(err); got != "InvalidSignatureException" {
			t.Errorf("%s: error %v, want InvalidSignatureException", name, err)
		}
	}
}

// TestWireFormat checks the raw protocol: JSON 1.1 content type, and
// AWS-style error bodies.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv := kmstest.New(t)
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, srv.URL+"/", bytes.NewReader([]byte(`{}`)))
	req.Header.Set("X-Amz-Target", "TrentService.GenerateDataKey")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]string
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", b, err)
	}
	if resp.StatusCode != http.StatusBadRequest || body["__type"] != "MissingAuthenticationTokenException" || body["message"] == "" ||
		resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("unsigned request: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if srv.Calls(kmstest.OpGenerateDataKey) != 0 {
		t.Fatal("a refused request was counted")
	}
}
