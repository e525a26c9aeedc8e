package queue

import (
	"context"
	"errors"
	"time"

	"github.com/idv-dev/idv"
)

// The OpenID Provider's durable state (migration 006): authorization
// requests with their code, and the access tokens issued from a code. Web
// runs as several processes, so none of it lives in memory. What the
// relying party sent is sealed by the caller (Request); the columns in
// clear are ids, hashes and times.

// OIDCRequest is a stored authorization request.
type OIDCRequest struct {
	ID       string
	ClientID string
	// Request is the relying party's request, sealed by the caller.
	Request        []byte `pii:"false"` // ciphertext (seal), not PII
	VerificationID string
	DoneAt         time.Time
	CodeUsedAt     time.Time
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// OIDCToken is an access token's record (the token itself is sealed and
// held by the relying party only).
type OIDCToken struct {
	ID        string
	RequestID string
	ClientID  string
	Subject   string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

const oidcRequestColumns = `id, client_id, request, verification_id, done_at, code_used_at, created_at, expires_at`

func scanOIDCRequest(r rowScanner) (OIDCRequest, error) {
	var o OIDCRequest
	var vid dbString
	var done, used, created, expires dbTime
	err := r.Scan(&o.ID, &o.ClientID, &o.Request, &vid, &done, &used, &created, &expires)
	o.VerificationID, o.DoneAt, o.CodeUsedAt, o.CreatedAt, o.ExpiresAt = vid.string, done.Time, used.Time, created.Time, expires.Time
	return o, err
}

// CreateOIDCRequest stores a new authorization request.
func (q *Queue) CreateOIDCRequest(ctx context.Context, o OIDCRequest) error {
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `INSERT INTO {p}idv_oidc_requests (id, client_id, request, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, o.ID, o.ClientID, o.Request, o.CreatedAt, o.ExpiresAt)
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// OIDCRequest returns the authorization request id, or ENOTFOUND.
func (q *Queue) OIDCRequest(ctx context.Context, id string) (OIDCRequest, error) {
	var o OIDCRequest
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		o, err = scanOIDCRequest(tx.queryRow(ctx, `SELECT `+oidcRequestColumns+` FROM {p}idv_oidc_requests WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return OIDCRequest{}, storeError(err, "authorization request")
	}
	return o, nil
}

// BindOIDCRequest ties an unfinished authorization request to the
// verification the person goes through for it.
func (q *Queue) BindOIDCRequest(ctx context.Context, id, verificationID string) error {
	return q.oidcUpdate(ctx, `UPDATE {p}idv_oidc_requests SET verification_id = $2 WHERE id = $1 AND done_at IS NULL`, id, verificationID)
}

// FinishOIDCRequest marks the request done (its verification is
// verified): a code may be issued for it.
func (q *Queue) FinishOIDCRequest(ctx context.Context, id string, now time.Time) error {
	return q.oidcUpdate(ctx, `UPDATE {p}idv_oidc_requests SET done_at = $2 WHERE id = $1 AND verification_id IS NOT NULL AND done_at IS NULL`, id, now)
}

// SaveOIDCCode records the hash of the code issued for a done request
// whose code was not spent yet; a new code replaces an unspent one.
func (q *Queue) SaveOIDCCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	return q.oidcUpdate(ctx, `UPDATE {p}idv_oidc_requests SET code_hash = $2, code_expires_at = $3
		WHERE id = $1 AND done_at IS NOT NULL AND code_used_at IS NULL`, id, codeHash, expiresAt)
}

func (q *Queue) oidcUpdate(ctx context.Context, stmt string, args ...any) error {
	return q.updateOne(ctx, idv.Errorf(idv.ECONFLICT, "the authorization request is unknown or already finished"), stmt, args...)
}

// ErrCodeReused is OIDCRequestByCode's answer to a code already spent: the
// tokens issued from it have been revoked.
var ErrCodeReused = idv.Errorf(idv.ECONFLICT, "this authorization code was already used; the tokens issued from it are revoked")

// OIDCRequestByCode returns the request whose code hashes to codeHash,
// while the code has not expired at now. An unknown or expired code is
// ENOTFOUND. A code already spent is ErrCodeReused, and every token issued
// from it is revoked (committed, even though the exchange fails).
func (q *Queue) OIDCRequestByCode(ctx context.Context, codeHash string, now time.Time) (OIDCRequest, error) {
	var o OIDCRequest
	reused := false
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		o, err = scanOIDCRequest(tx.queryRow(ctx, `SELECT `+oidcRequestColumns+` FROM {p}idv_oidc_requests
			WHERE code_hash = $1 AND code_expires_at > $2`, codeHash, now))
		if err != nil {
			return err
		}
		if o.CodeUsedAt.IsZero() {
			return nil
		}
		reused = true
		_, err = tx.exec(ctx, `UPDATE {p}idv_oidc_tokens SET revoked_at = $2 WHERE request_id = $1 AND revoked_at IS NULL`, o.ID, now)
		return err
	})
	switch {
	case errors.Is(err, errNoRows):
		return OIDCRequest{}, idv.Errorf(idv.ENOTFOUND, "unknown or expired authorization code")
	case err != nil:
		return OIDCRequest{}, unavailable(err)
	case reused:
		return OIDCRequest{}, ErrCodeReused
	}
	return o, nil
}

// IssueOIDCToken spends the request's code and records the access token
// issued for it, in one transaction: of two concurrent exchanges of one
// code, one gets a token and the other ErrCodeReused.
func (q *Queue) IssueOIDCToken(ctx context.Context, t OIDCToken) error {
	spent := false
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		n, err := tx.exec(ctx, `UPDATE {p}idv_oidc_requests SET code_used_at = $2
			WHERE id = $1 AND code_hash IS NOT NULL AND code_used_at IS NULL`, t.RequestID, t.CreatedAt)
		if err != nil {
			return err
		}
		if n == 0 {
			spent = true
			_, err = tx.exec(ctx, `UPDATE {p}idv_oidc_tokens SET revoked_at = $2 WHERE request_id = $1 AND revoked_at IS NULL`, t.RequestID, t.CreatedAt)
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO {p}idv_oidc_tokens (id, request_id, client_id, subject, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, t.RequestID, t.ClientID, t.Subject, t.CreatedAt, t.ExpiresAt)
		return err
	})
	switch {
	case err != nil:
		return unavailable(err)
	case spent:
		return ErrCodeReused
	}
	return nil
}

// OIDCToken returns an access token's record, or ENOTFOUND.
func (q *Queue) OIDCToken(ctx context.Context, id string) (OIDCToken, error) {
	var t OIDCToken
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var created, expires, revoked dbTime
		err := tx.queryRow(ctx, `SELECT id, request_id, client_id, subject, created_at, expires_at, revoked_at
			FROM {p}idv_oidc_tokens WHERE id = $1`, id).Scan(&t.ID, &t.RequestID, &t.ClientID, &t.Subject, &created, &expires, &revoked)
		t.CreatedAt, t.ExpiresAt, t.RevokedAt = created.Time, expires.Time, revoked.Time
		return err
	})
	if err != nil {
		return OIDCToken{}, storeError(err, "access token")
	}
	return t, nil
}

// RevokeOIDCToken revokes one access token of clientID.
func (q *Queue) RevokeOIDCToken(ctx context.Context, id, clientID string, now time.Time) error {
	return q.oidcUpdate(ctx, `UPDATE {p}idv_oidc_tokens SET revoked_at = $3 WHERE id = $1 AND client_id = $2 AND revoked_at IS NULL`, id, clientID, now)
}

// PruneOIDC deletes authorization requests (and their tokens) that
// expired before before.
func (q *Queue) PruneOIDC(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		if _, err := tx.exec(ctx, `DELETE FROM {p}idv_oidc_tokens WHERE request_id IN
			(SELECT id FROM {p}idv_oidc_requests WHERE expires_at < $1)`, before); err != nil {
			return err
		}
		var err error
		n, err = tx.exec(ctx, `DELETE FROM {p}idv_oidc_requests WHERE expires_at < $1`, before)
		return err
	})
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}
