package queue

import (
	"context"
	"errors"
	"time"

	"github.com/idv-dev/idv"
)

// A person reaches a verification through a link whose token only the
// relying party saw: the table keeps the token's hash, the link works once
// (one guarded UPDATE marks it used) and expires. A verification has at
// most one live link: a new one kills the earlier unused ones.

// NewLink is the first link of a verification, made in the transaction
// that creates it.
type NewLink struct {
	TokenHash string
	ExpiresAt time.Time
}

// CreateVerificationWithLink is CreateVerification and CreateLink in one
// transaction, so a create never leaves a verification nobody can reach.
// When an earlier create with the same idempotency key answers (created is
// false), that verification gets the new link instead, and its earlier
// unused link dies: the token is kept only as a hash, so a repeated answer
// cannot show the first one again. A final verification gets no link
// (linkExpires is zero). A concurrent create with the same key that loses
// the race for the key's unique index is answered like a repeat.
func (q *Queue) CreateVerificationWithLink(ctx context.Context, n NewVerification, l NewLink) (v idv.Verification, created bool, linkExpires time.Time, err error) {
	v = n.Verification
	if v.ID == "" || v.RelyingPartyID == "" || len(v.Steps) == 0 || l.TokenHash == "" {
		return idv.Verification{}, false, time.Time{}, idv.Errorf(idv.EINVALID, "a verification needs an id, a relying party, steps and a link")
	}
	for try := 0; ; try++ {
		err = q.b.inTx(ctx, func(tx sqlTx) error {
			var err error
			if v, created, err = createVerificationIn(ctx, tx, n); err != nil {
				return err
			}
			if v.Status.Final() {
				linkExpires = time.Time{}
				return nil
			}
			linkExpires, err = insertLink(ctx, tx, v.ID, l.TokenHash, n.Verification.CreatedAt, l.ExpiresAt)
			return err
		})
		if err != nil && try == 0 && n.IdempotencyKey != "" && q.b.isUniqueViolation(err) {
			continue
		}
		break
	}
	if err != nil {
		return idv.Verification{}, false, time.Time{}, storeError(err, "verification")
	}
	return v, created, linkExpires, nil
}

// CreateLink stores a new link to an unfinished verification, made at now,
// and kills its earlier unused links. The link expires at expiresAt or when
// the verification does, whichever comes first; the expiry is returned. A
// final verification is an ECONFLICT; an unknown one ENOTFOUND.
func (q *Queue) CreateLink(ctx context.Context, verificationID, tokenHash string, now, expiresAt time.Time) (time.Time, error) {
	if tokenHash == "" {
		return time.Time{}, idv.Errorf(idv.EINVALID, "a link needs a token hash")
	}
	var exp time.Time
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		exp, err = insertLink(ctx, tx, verificationID, tokenHash, now, expiresAt)
		return err
	})
	if err != nil {
		return time.Time{}, storeError(err, "verification")
	}
	return exp, nil
}

// insertLink is CreateLink inside tx. The verification row's lock orders
// it with a concurrent exchange or cancel.
func insertLink(ctx context.Context, tx sqlTx, verificationID, tokenHash string, now, expiresAt time.Time) (time.Time, error) {
	v, err := loadVerification(ctx, tx, verificationID, true)
	if err != nil {
		return time.Time{}, err
	}
	if v.Status.Final() {
		return time.Time{}, idv.Errorf(idv.ECONFLICT, "this verification is already %s", v.Status)
	}
	if v.ExpiresAt.Before(expiresAt) {
		expiresAt = v.ExpiresAt
	}
	if _, err := tx.exec(ctx, `DELETE FROM {p}idv_verification_links WHERE verification_id = $1 AND used_at IS NULL`, verificationID); err != nil {
		return time.Time{}, err
	}
	if _, err := tx.exec(ctx, `INSERT INTO {p}idv_verification_links (token_hash, verification_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`, tokenHash, verificationID, now, expiresAt); err != nil {
		return time.Time{}, err
	}
	return expiresAt, nil
}

// ExchangeLink spends the link whose token hashes to tokenHash and returns
// its verification: one guarded UPDATE, so of two concurrent exchanges one
// wins. A used, expired or unknown link is ENOTFOUND (the three are not told
// apart, so a guessed hash learns nothing). A verification that is final or
// past its lifetime is an ECONFLICT, returned with the verification (the
// caller may say how it ended); its link stays unused.
func (q *Queue) ExchangeLink(ctx context.Context, tokenHash string, now time.Time) (idv.Verification, error) {
	var v idv.Verification
	var conflict error
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var id string
		err := tx.queryRow(ctx, `UPDATE {p}idv_verification_links SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
			RETURNING verification_id`, tokenHash, now).Scan(&id)
		if errors.Is(err, errNoRows) {
			return idv.Errorf(idv.ENOTFOUND, "this link is used, expired or unknown")
		}
		if err != nil {
			return err
		}
		if v, err = loadVerification(ctx, tx, id, false); err != nil {
			return err
		}
		switch {
		case v.Status.Final():
			conflict = idv.Errorf(idv.ECONFLICT, "this verification is already %s", v.Status)
		case !v.ExpiresAt.After(now):
			conflict = idv.Errorf(idv.ECONFLICT, "this verification has expired")
		}
		return conflict // rolls the use back
	})
	switch {
	case conflict != nil:
		return v, conflict
	case err != nil:
		return idv.Verification{}, storeError(err, "verification")
	}
	return v, nil
}
