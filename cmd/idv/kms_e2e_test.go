package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/idv-dev/idv/seal/kms/kmstest"
)

// TestKMSProductionFlow runs web and worker with their envelope keys in KMS
// (the in-process server speaking the KMS JSON protocol, reached by the
// real SDK in the processes), rotates the key mid-flow, and checks that KMS
// is not called per job and that nothing personal is stored in plaintext.
func TestKMSProductionFlow(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	kms := kmstest.New(t)
	keyA := kms.CreateKey()
	kmsEnv := func(key string) []string {
		return []string{
			"IDV_KEYS_KMS_KEY_ID=" + key, "IDV_KEYS_KMS_ENDPOINT=" + kms.URL, "IDV_KEYS_KMS_REGION=" + kmstest.Region,
			"AWS_ACCESS_KEY_ID=" + kmstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + kmstest.SecretAccessKey,
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		}
	}
	envA := append(append([]string{}, pe.env...), kmsEnv(keyA)...)
	run1(t, envA, "migrate")
	webA := start(t, envA, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, envA, "worker", "worker", "--addr", "127.0.0.1:0")
	baseA := webA.waitURL(t)
	worker.waitURL(t)

	// The relying party is created with the key file: it seals nothing
	// (no webhook secret), and the KMS calls counted are the people's.
	rp := newRP(t, pe.env, baseA, stepsWithoutDocument)
	const people = 5
	persons := make([]*person, people)
	for i := range persons {
		persons[i] = rp.person(t)
		if got := persons[i].verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
			t.Fatalf("person %d went to %q", i, got)
		}
	}
	generated := kms.Calls(kmstest.OpGenerateDataKey)
	// One data key per process (web seals sessions and jobs, the worker
	// results) and a start-up check each: not one per job or per request.
	if generated == 0 || generated > 4 {
		t.Fatalf("GenerateDataKey called %d times for %d people", generated, people)
	}

	// Rotation: a web server on a new key. Sessions and results sealed
	// under the old key still open (the envelope names its key); what is
	// sealed from now on names the new one, and the worker, still
	// configured with the old key, opens it too.
	keyB := kms.CreateKey()
	envB := append(append([]string{}, pe.env...), kmsEnv(keyB)...)
	webB := start(t, envB, "web", "web", "--addr", "127.0.0.1:0")
	baseB := webB.waitURL(t)
	for i, p := range persons {
		p.Base = baseB // same cookies: the session sealed under key A
		if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
			t.Fatalf("person %d after rotation went to %q", i, got)
		}
	}
	if _, _, body := persons[0].do("GET", "/verify/result", nil); !strings.Contains(body, "alert-success") {
		t.Fatalf("result after rotation: %.300s", body)
	}
	t.Logf("KMS calls: GenerateDataKey %d, Decrypt %d for %d people and a rotation",
		kms.Calls(kmstest.OpGenerateDataKey), kms.Calls(kmstest.OpDecrypt), people)

	all := strings.ToLower(dumpStores(t, pe, webA, webB, worker).String())
	for _, c := range canaries {
		if strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("canary %q found in plaintext", c)
		}
	}
	if !strings.Contains(all, strings.ToLower(keyB)) {
		// Key ids are not secret; the envelopes written after the
		// rotation name the new key.
		t.Error("no stored value names the new key")
	}
}
