-- OpenID Connect (DESIGN.md section 11); see the PostgreSQL migration of
-- the same number for what each column holds.
ALTER TABLE idv_relying_parties ADD COLUMN redirect_uris text NOT NULL DEFAULT '[]';
ALTER TABLE idv_relying_parties ADD COLUMN token_auth_method text NOT NULL DEFAULT 'client_secret_basic';
ALTER TABLE idv_relying_parties ADD COLUMN jwks text NOT NULL DEFAULT '';

CREATE TABLE IF NOT EXISTS idv_oidc_requests (
    id text PRIMARY KEY NOT NULL,
    client_id text NOT NULL REFERENCES idv_relying_parties (id),
    request blob NOT NULL,
    verification_id text,
    done_at text,
    code_hash text UNIQUE,
    code_expires_at text,
    code_used_at text,
    created_at text NOT NULL,
    expires_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS idv_oidc_requests_expires_idx ON idv_oidc_requests (expires_at);

CREATE TABLE IF NOT EXISTS idv_oidc_tokens (
    id text PRIMARY KEY NOT NULL,
    request_id text NOT NULL REFERENCES idv_oidc_requests (id) ON DELETE CASCADE,
    client_id text NOT NULL,
    subject text NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    revoked_at text
);
CREATE INDEX IF NOT EXISTS idv_oidc_tokens_request_idx ON idv_oidc_tokens (request_id);
