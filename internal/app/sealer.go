package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/seal"
	sealkms "github.com/idv-dev/idv/seal/kms"
)

// OpenSealer returns the envelope that seals job arguments, results and
// sessions: data keys wrapped by AWS KMS when keys.kms_key_id is set, else by
// the local key file, which must exist: a process that made itself a new key
// (a mistyped path) would report healthy and then fail to open everything
// the others sealed. `idv keys init` creates the file. With KMS it wraps and
// unwraps one data key at once, so a process that cannot reach the key or
// lacks kms:GenerateDataKey or kms:Decrypt fails at start-up rather than on
// a person's request.
func OpenSealer(ctx context.Context, cfg config.Config) (*seal.Envelope, error) {
	return openSealer(ctx, cfg, seal.LoadKeyFile)
}

// OpenDevSealer is OpenSealer for `idv dev`, which creates its key file on
// first run.
func OpenDevSealer(ctx context.Context, cfg config.Config) (*seal.Envelope, error) {
	return openSealer(ctx, cfg, seal.LoadOrCreateKeyFile)
}

func openSealer(ctx context.Context, cfg config.Config, loadKeyFile func(string) (*seal.LocalKeyRing, error)) (*seal.Envelope, error) {
	opts := seal.Options{DataKeyTTL: cfg.Keys.DataKeyLifetime}
	if cfg.Keys.KMSKeyID == "" {
		ring, err := loadKeyFile(cfg.Keys.File)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keys.file: %s does not exist. Create it once with `idv keys init` (same configuration) "+
				"and give every web and worker process that file, or set keys.file (IDV_KEYS_FILE) to the existing one", cfg.Keys.File)
		}
		if err != nil {
			return nil, err
		}
		return seal.NewEnvelope(ring, opts)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := sealkms.Open(ctx, sealkms.Config{KeyID: cfg.Keys.KMSKeyID, Region: cfg.Keys.KMSRegion, Endpoint: cfg.Keys.KMSEndpoint})
	if err != nil {
		return nil, fmt.Errorf("keys.kms_key_id: %w", err)
	}
	sealer, err := seal.NewEnvelope(w, opts)
	if err != nil {
		return nil, err
	}
	// A second envelope has no cached data key, so its Open calls Decrypt.
	check, err := seal.NewEnvelope(w, opts)
	if err != nil {
		return nil, err
	}
	aad := []byte("idv/startup-check")
	v, err := sealer.Seal(ctx, nil, aad)
	if err == nil {
		_, err = check.Open(ctx, v, aad)
	}
	if err != nil {
		return nil, fmt.Errorf("keys.kms_key_id %s: %w", cfg.Keys.KMSKeyID, err)
	}
	return sealer, nil
}
