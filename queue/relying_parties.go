package queue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/idv-dev/idv"
)

var _ idv.RelyingPartyStore = (*Queue)(nil)

// CreateRelyingParty implements idv.RelyingPartyStore.
func (q *Queue) CreateRelyingParty(ctx context.Context, rp idv.RelyingParty) error {
	urls, _ := json.Marshal(nonNil(rp.ReturnURLs))
	outputs, _ := json.Marshal(nonNil(rp.Outputs))
	redirects, _ := json.Marshal(nonNil(rp.RedirectURIs))
	method := rp.TokenAuthMethod
	if method == "" {
		method = idv.AuthClientSecretBasic
	}
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		_, err := tx.exec(ctx, `INSERT INTO {p}idv_relying_parties
			(id, name, api_key_hash, api_key_hint, webhook_url, webhook_secret, return_urls, outputs, created_at,
			 redirect_uris, token_auth_method, jwks)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			rp.ID, rp.Name, rp.APIKeyHash, rp.APIKeyHint, rp.WebhookURL, rp.WebhookSecret, string(urls), string(outputs), rp.CreatedAt,
			string(redirects), method, rp.JWKS)
		return err
	})
	if err != nil {
		if q.b.isUniqueViolation(err) {
			return idv.WrapError(idv.ECONFLICT, "relying party already exists", err)
		}
		return unavailable(err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const rpColumns = `id, name, api_key_hash, api_key_hint, webhook_url, webhook_secret, return_urls, outputs, created_at, disabled_at,
	redirect_uris, token_auth_method, jwks`

func scanRelyingParty(r rowScanner) (idv.RelyingParty, error) {
	var rp idv.RelyingParty
	var urls, outputs, redirects dbString
	var created, disabled dbTime
	if err := r.Scan(&rp.ID, &rp.Name, &rp.APIKeyHash, &rp.APIKeyHint, &rp.WebhookURL, &rp.WebhookSecret, &urls, &outputs, &created, &disabled,
		&redirects, &rp.TokenAuthMethod, &rp.JWKS); err != nil {
		return rp, err
	}
	rp.CreatedAt, rp.DisabledAt = created.Time, disabled.Time
	if err := json.Unmarshal([]byte(urls.string), &rp.ReturnURLs); err != nil {
		return rp, err
	}
	if err := json.Unmarshal([]byte(redirects.string), &rp.RedirectURIs); err != nil {
		return rp, err
	}
	return rp, json.Unmarshal([]byte(outputs.string), &rp.Outputs)
}

func (q *Queue) oneRelyingParty(ctx context.Context, where string, arg any) (idv.RelyingParty, error) {
	var rp idv.RelyingParty
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		rp, err = scanRelyingParty(tx.queryRow(ctx, `SELECT `+rpColumns+` FROM {p}idv_relying_parties WHERE `+where, arg))
		return err
	})
	if err != nil {
		return idv.RelyingParty{}, storeError(err, "relying party")
	}
	return rp, nil
}

// RelyingPartyByKey implements idv.RelyingPartyStore.
func (q *Queue) RelyingPartyByKey(ctx context.Context, hash string) (idv.RelyingParty, error) {
	return q.oneRelyingParty(ctx, `api_key_hash = $1 AND disabled_at IS NULL`, hash)
}

// RelyingParty implements idv.RelyingPartyStore.
func (q *Queue) RelyingParty(ctx context.Context, id string) (idv.RelyingParty, error) {
	return q.oneRelyingParty(ctx, `id = $1`, id)
}

// RelyingParties implements idv.RelyingPartyStore, oldest first.
func (q *Queue) RelyingParties(ctx context.Context) ([]idv.RelyingParty, error) {
	var out []idv.RelyingParty
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		rows, err := tx.query(ctx, `SELECT `+rpColumns+` FROM {p}idv_relying_parties ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rp, err := scanRelyingParty(rows)
			if err != nil {
				return err
			}
			out = append(out, rp)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// RotateRelyingPartyKey implements idv.RelyingPartyStore.
func (q *Queue) RotateRelyingPartyKey(ctx context.Context, id, hash, hint string) error {
	return q.updateRelyingParty(ctx, `UPDATE {p}idv_relying_parties SET api_key_hash = $2, api_key_hint = $3 WHERE id = $1`, id, hash, hint)
}

// DisableRelyingParty implements idv.RelyingPartyStore: its key stops
// working at once.
func (q *Queue) DisableRelyingParty(ctx context.Context, id string, at time.Time) error {
	return q.updateRelyingParty(ctx, `UPDATE {p}idv_relying_parties SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL`, id, at)
}

func (q *Queue) updateRelyingParty(ctx context.Context, stmt string, args ...any) error {
	return q.updateOne(ctx, idv.Errorf(idv.ENOTFOUND, "no such enabled relying party"), stmt, args...)
}

// updateOne runs stmt in a transaction of its own; none is the answer
// when it changed no row.
func (q *Queue) updateOne(ctx context.Context, none error, stmt string, args ...any) error {
	var n int64
	err := q.b.inTx(ctx, func(tx sqlTx) error {
		var err error
		n, err = tx.exec(ctx, stmt, args...)
		return err
	})
	switch {
	case err != nil:
		return unavailable(err)
	case n == 0:
		return none
	}
	return nil
}
