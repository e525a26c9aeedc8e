package queue

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/idv-dev/idv"
)

// ListFilter selects a relying party's verifications for ListVerifications.
// Zero fields select everything.
type ListFilter struct {
	ClientReferenceID string
	Status            idv.VerificationStatus
	// CreatedAfter is inclusive and CreatedBefore exclusive, so adjacent
	// ranges neither overlap nor miss a verification.
	CreatedAfter, CreatedBefore time.Time
	// Limit bounds the page (1 to MaxListLimit; 0 means DefaultListLimit).
	Limit int
	// Cursor is the next value of the previous page, "" for the first.
	Cursor string
}

// Page sizes of ListVerifications.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// ListVerifications returns a page of the relying party's verifications,
// newest first, and the cursor of the next page ("" after the last). The
// cursor is the keyset (created_at, id) of the page's last row, encoded;
// it stays valid however many rows are created meanwhile. A cursor that
// does not decode is EINVALID.
func (q *Queue) ListVerifications(ctx context.Context, rpID string, f ListFilter) ([]idv.Verification, string, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return nil, "", idv.Errorf(idv.EINVALID, "limit must be between 1 and %d", MaxListLimit)
	}
	args := []any{rpID}
	arg := func(v any) string { // the placeholder of a new argument
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"relying_party_id = $1"}
	if f.ClientReferenceID != "" {
		where = append(where, "client_reference_id = "+arg(f.ClientReferenceID))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "created_at >= "+arg(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(f.CreatedBefore))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		a, i := arg(at), arg(id)
		where = append(where, "(created_at < "+a+" OR (created_at = "+a+" AND id < "+i+"))")
	}
	args = append(args, limit+1)
	query := `SELECT id FROM {p}idv_verifications WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id DESC LIMIT $` + strconv.Itoa(len(args))
	var out []idv.Verification
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		ids, err := queryIDs(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			v, err := loadVerification(ctx, tx, id, false)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, "", storeError(err, "verification")
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, encodeCursor(last.CreatedAt, last.ID), nil
}

// VerificationByIdempotencyKey returns the relying party's verification
// created with the Idempotency-Key key and the hash of that request, or
// ENOTFOUND. A repeated create is answered from it before anything is
// counted against a limit.
func (q *Queue) VerificationByIdempotencyKey(ctx context.Context, rpID, key string) (idv.Verification, string, error) {
	var v idv.Verification
	var hash dbString
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var id string
		err := tx.queryRow(ctx, `SELECT id, request_hash FROM {p}idv_verifications
			WHERE relying_party_id = $1 AND idempotency_key = $2`, rpID, key).Scan(&id, &hash)
		if err != nil {
			return err
		}
		v, err = loadVerification(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return idv.Verification{}, "", storeError(err, "verification")
	}
	return v, hash.string, nil
}

func queryIDs(ctx context.Context, tx sqlTx, query string, args ...any) ([]string, error) {
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// A cursor is "<created_at as Unix nanoseconds>.<id>", base64url: opaque to
// the client, and exact for both backends (PostgreSQL keeps microseconds,
// SQLite nanoseconds; the value comes from a stored row).
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "." + id))
}

var errBadCursor = idv.Errorf(idv.EINVALID, "cursor is not one this API returned")

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", errBadCursor
	}
	ns, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", errBadCursor
	}
	return time.Unix(0, n).UTC(), id, nil
}
