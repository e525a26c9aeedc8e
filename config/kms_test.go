package config

import (
	"strings"
	"testing"
)

// TestValidateKMS checks the keys.kms_* settings: KMS replaces keys.file,
// and each bad value is named.
func TestValidateKMS(t *testing.T) {
	t.Parallel()
	base := Defaults()
	base.DatabaseURL = "postgres://postgres@127.0.0.1/test"
	base.Vendors.BaseURL = "http://127.0.0.1:8081"
	base.Keys.FingerprintKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	base.Objects.Bucket = "idv-documents"
	const arn = "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name              string
		file              string
		keyID, region, ep string
		want              string // "" means valid
	}{
		{name: "key file only", file: "keys.json"},
		{name: "neither", want: "keys.file"},
		{name: "KMS key ARN instead of a file", keyID: arn},
		{name: "alias with region and endpoint", keyID: "alias/idv", region: "us-gov-west-1", ep: "https://kms.us-gov-west-1.amazonaws.com"},
		{name: "multi-Region key id", keyID: "mrk-1234abcd12ab34cd56ef1234567890ab", region: "eu-central-1"},
		{name: "alias ARN", keyID: "arn:aws:kms:us-east-2:111122223333:alias/idv"},
		{name: "not a key", keyID: "my-key", want: "keys.kms_key_id"},
		{name: "another service's ARN", keyID: "arn:aws:s3:::bucket", want: "keys.kms_key_id"},
		{name: "bad region", keyID: arn, region: "US East", want: "keys.kms_region"},
		{name: "bad endpoint", keyID: arn, ep: "kms.internal", want: "keys.kms_endpoint"},
		{name: "region without a key", file: "keys.json", region: "us-east-1", want: "keys.kms_key_id"},
		{name: "endpoint without a key", file: "keys.json", ep: "http://127.0.0.1:4566", want: "keys.kms_key_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.Keys.File, cfg.Keys.KMSKeyID, cfg.Keys.KMSRegion, cfg.Keys.KMSEndpoint = tc.file, tc.keyID, tc.region, tc.ep
			err := cfg.Validate(RoleWeb | RoleWorker)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want+":")):
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
		})
	}
}

func TestKMSFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", []string{"IDV_KEYS_KMS_KEY_ID=alias/idv", "IDV_KEYS_KMS_REGION=us-east-1", "IDV_KEYS_KMS_ENDPOINT=http://127.0.0.1:4566"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.KMSKeyID != "alias/idv" || cfg.Keys.KMSRegion != "us-east-1" || cfg.Keys.KMSEndpoint != "http://127.0.0.1:4566" {
		t.Fatalf("keys = %+v", cfg.Keys)
	}
}
