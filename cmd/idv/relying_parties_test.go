package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
)

// The operators' commands on relying parties, signing keys and webhooks,
// on PostgreSQL in the test's own schema: secrets are printed once and
// stored only hashed or sealed.
func TestRelyingPartyCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	schema, url := testenv.Schema(t)
	cfgPath := filepath.Join(dir, "idv.yaml")
	cfg := fmt.Sprintf("database_url: %q\ndatabase_schema: %q\nkeys:\n  file: %q\n", url, schema, filepath.Join(dir, "keys.json"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	idv := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, append(append([]string{}, args...), "--config", cfgPath), &stdout, &stderr)
		return stdout.String(), err
	}
	// Flags go before the positional ids: put --config first for those.
	idvID := func(action, id string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"rp", action, "--config", cfgPath, id}, &stdout, &stderr)
		return stdout.String(), err
	}
	if _, err := idv("migrate"); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keys", "--config", cfgPath, "init"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// --insecure: a webhook host name is otherwise looked up in DNS, and
	// tests send no traffic beyond the machine (webhook's own tests check
	// destinations with a resolver of their own).
	out, err := idv("rp", "create", "--name", "Benefits Portal", "--return-url", "https://benefits.example/back",
		"--webhook-url", "https://benefits.example/hooks", "--outputs", "name,dob", "--insecure")
	if err != nil {
		t.Fatalf("rp create: %v\n%s", err, out)
	}
	rpID := regexp.MustCompile(`relying party (rp_\S+) created`).FindStringSubmatch(out)
	key := regexp.MustCompile(`api_key: (idv_sk_\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`webhook_secret: (whsec_\S+)`).FindStringSubmatch(out)
	if rpID == nil || key == nil || secret == nil {
		t.Fatalf("rp create printed:\n%s", out)
	}

	q, err := queue.OpenPostgres(ctx, url, queue.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rp, err := q.RelyingPartyByKey(ctx, idvHash(key[1]))
	if err != nil || rp.ID != rpID[1] || rp.Name != "Benefits Portal" || len(rp.Outputs) != 2 {
		t.Fatalf("stored relying party %+v, %v", rp, err)
	}
	if bytes.Contains(rp.WebhookSecret, []byte(strings.TrimPrefix(secret[1], "whsec_"))) || rp.APIKeyHash == key[1] {
		t.Fatal("a secret is stored in clear")
	}

	for _, bad := range [][]string{
		{"rp", "create", "--return-url", "https://x.example/"},                                    // no name
		{"rp", "create", "--name", "X"},                                                           // no return URL
		{"rp", "create", "--name", "X", "--return-url", "http://x.example/"},                      // http
		{"rp", "create", "--name", "X", "--return-url", "https://x.example/", "--outputs", "ssn"}, // unknown output
		{"rp", "create", "--name", "X", "--return-url", "https://x.example/", "--webhook-url", "https://127.0.0.1/h"},
	} {
		if out, err := idv(bad...); err == nil {
			t.Errorf("%v accepted:\n%s", bad, out)
		}
	}

	out, err = idvID("rotate-key", rpID[1])
	newKey := regexp.MustCompile(`new api_key: (idv_sk_\S+)`).FindStringSubmatch(out)
	if err != nil || newKey == nil {
		t.Fatalf("rotate-key: %v\n%s", err, out)
	}
	if _, err := q.RelyingPartyByKey(ctx, idvHash(key[1])); err == nil {
		t.Fatal("the old key works after rotate-key")
	}
	if out, err := idv("rp", "list"); err != nil || !strings.Contains(out, rpID[1]) || strings.Contains(out, newKey[1]) {
		t.Fatalf("rp list: %v\n%s", err, out)
	}
	if _, err := idvID("disable", rpID[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RelyingPartyByKey(ctx, idvHash(newKey[1])); err == nil {
		t.Fatal("a disabled relying party's key works")
	}

	var first, second string
	for i, kid := range []*string{&first, &second} {
		var stdout, stderr bytes.Buffer
		err := run(ctx, []string{"keys", "--config", cfgPath, "rotate-signing"}, &stdout, &stderr)
		out := stdout.String()
		m := regexp.MustCompile(`receipt signing key (\S+) is current`).FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("rotate-signing %d: %v\n%s", i, err, out)
		}
		*kid = m[1]
	}
	if first == second {
		t.Fatal("rotate-signing kept the same key")
	}
	if out, err := idvWebhooks(ctx, cfgPath, "evt_none"); err == nil {
		t.Fatalf("replay of a missing event: %s", out)
	}
}

func idvHash(token string) string { return idv.HashToken(token) }

func idvWebhooks(ctx context.Context, cfgPath, id string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"webhooks", "replay", "--config", cfgPath, id}, &stdout, &stderr)
	return stdout.String(), err
}
