package receipt_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	_ "modernc.org/sqlite" // the canary reads the SQLite file directly

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/receipt"
	"github.com/idv-dev/idv/seal"
)

// backend is a migrated database of the test's own with the signing key
// store on it, and a way to read the raw rows as an attacker with the
// database would.
type backend struct {
	store receipt.KeyStore
	rows  func(t *testing.T) [][]byte // every column of every idv_signing_keys row
}

var backends = map[string]func(t *testing.T) backend{
	"postgres": func(t *testing.T) backend {
		schema, url := testenv.Schema(t)
		q, err := queue.OpenPostgres(ctx(t), url, queue.Config{Schema: schema, Logger: quiet})
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(q.Close)
		if err := q.Migrate(ctx(t)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		pool := testenv.Pool(t, url)
		return backend{store: q.SigningKeys(), rows: func(t *testing.T) [][]byte {
			rows, err := pool.Query(ctx(t), `SELECT kid::bytea, public_key, sealed_private_key,
				created_at::text::bytea, coalesce(retired_at::text, '')::bytea FROM idv_signing_keys`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out [][]byte
			for rows.Next() {
				cols := make([][]byte, 5)
				if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]); err != nil {
					t.Fatal(err)
				}
				out = append(out, bytes.Join(cols, []byte{0}))
			}
			return out
		}}
	},
	"sqlite": func(t *testing.T) backend {
		path := filepath.Join(t.TempDir(), "idv.db")
		q, err := queue.OpenSQLite(ctx(t), path, queue.Config{Logger: quiet})
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		t.Cleanup(q.Close)
		if err := q.Migrate(ctx(t)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		return backend{store: q.SigningKeys(), rows: func(t *testing.T) [][]byte {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.QueryContext(ctx(t), `SELECT CAST(kid AS blob), public_key, sealed_private_key,
				CAST(created_at AS blob), CAST(coalesce(retired_at, '') AS blob) FROM idv_signing_keys`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out [][]byte
			for rows.Next() {
				cols := make([][]byte, 5)
				if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]); err != nil {
					t.Fatal(err)
				}
				out = append(out, bytes.Join(cols, []byte{0}))
			}
			return out
		}}
	},
}

// eachBackend runs f as a parallel subtest per database.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, open(t))
		})
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// newSealer is an envelope sealer under a local key ring, as `idv dev` has.
func newSealer(t testing.TB) *seal.Envelope {
	t.Helper()
	ring, err := seal.NewLocalKeyRing(map[string][]byte{"k1": bytes.Repeat([]byte{7}, seal.MasterKeySize)}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := seal.NewEnvelope(ring, seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const issuer = "https://idv.example"

// quiet drops River's migration log lines.
var quiet = slog.New(slog.DiscardHandler)

func newSigner(t testing.TB, store receipt.KeyStore, sealer idv.Sealer, clock *testenv.Clock) *receipt.Signer {
	t.Helper()
	s, err := receipt.New(store, sealer, receipt.Options{Issuer: issuer, Now: clock.Now})
	if err != nil {
		t.Fatalf("receipt.New: %v", err)
	}
	return s
}

// fetchJWKS GETs the key set from the signer's handler over HTTP, as an RP
// does, and checks the caching headers.
func fetchJWKS(t *testing.T, s *receipt.Signer) jose.JSONWebKeySet {
	t.Helper()
	srv := httptest.NewServer(s.JWKSHandler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + receipt.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("jwks JSON: %v\n%s", err, body)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() || k.Algorithm != "ES256" || k.Use != "sig" {
			t.Errorf("published key %s: public %t valid %t alg %q use %q", k.KeyID, k.IsPublic(), k.Valid(), k.Algorithm, k.Use)
		}
	}
	return set
}

// check verifies token against set with go-jose, as an RP would: ES256
// only, the key picked by kid. It returns the claims and the kid.
func check(token string, set jose.JSONWebKeySet) (receipt.Claims, string, error) {
	var c receipt.Claims
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return c, "", err
	}
	kid := tok.Headers[0].KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return c, kid, errUnknownKid
	}
	if typ := tok.Headers[0].ExtraHeaders[jose.HeaderType]; typ != receipt.TokenType {
		return c, kid, errWrongType
	}
	return c, kid, tok.Claims(keys[0].Key, &c)
}

type testError string

func (e testError) Error() string { return string(e) }

const (
	errUnknownKid = testError("no published key with the token's kid")
	errWrongType  = testError("wrong typ header")
)

func keyIDs(set jose.JSONWebKeySet) []string {
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// failingStore is a key store whose database is down.
type failingStore struct{}

var errDown = idv.Errorf(idv.EUNAVAILABLE, "database down")

func (failingStore) InsertKey(context.Context, receipt.StoredKey) error    { return errDown }
func (failingStore) ListKeys(context.Context) ([]receipt.StoredKey, error) { return nil, errDown }
func (failingStore) RetireKey(context.Context, string, time.Time) error    { return errDown }

func httptestGet(t *testing.T, s *receipt.Signer) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, receipt.JWKSPath, nil))
	return rec
}
