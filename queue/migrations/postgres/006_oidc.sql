-- OpenID Connect (DESIGN.md section 11). A relying party is also an OIDC
-- client: its redirect URIs (matched exactly), how it authenticates at the
-- token endpoint (client_secret_basic with its API key as the secret, or
-- private_key_jwt with the public keys in jwks), none of it secret.
ALTER TABLE idv_relying_parties ADD COLUMN IF NOT EXISTS redirect_uris jsonb NOT NULL DEFAULT '[]';
ALTER TABLE idv_relying_parties ADD COLUMN IF NOT EXISTS token_auth_method text NOT NULL DEFAULT 'client_secret_basic';
ALTER TABLE idv_relying_parties ADD COLUMN IF NOT EXISTS jwks text NOT NULL DEFAULT '';

-- Authorization requests, with their code. What the relying party sent
-- (redirect URI, state, nonce, scopes, claims request, PKCE challenge,
-- login hint) is sealed in request (AAD idv/oidc-request/v1|<id>): the
-- columns in clear are ids, hashes and times. The code is kept only as its
-- SHA-256; code_used_at is set by the one guarded UPDATE that spends it.
CREATE TABLE IF NOT EXISTS idv_oidc_requests (
    id text PRIMARY KEY,
    client_id text NOT NULL REFERENCES idv_relying_parties (id),
    request bytea NOT NULL,
    verification_id text,
    done_at timestamptz,
    code_hash text UNIQUE,
    code_expires_at timestamptz,
    code_used_at timestamptz,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idv_oidc_requests_expires_idx ON idv_oidc_requests (expires_at);

-- Access tokens issued from a code: the token itself is sealed by idv's
-- envelope and given to the relying party only; the row keeps its id.
-- Reusing a code revokes every token issued from it.
CREATE TABLE IF NOT EXISTS idv_oidc_tokens (
    id text PRIMARY KEY,
    request_id text NOT NULL REFERENCES idv_oidc_requests (id) ON DELETE CASCADE,
    client_id text NOT NULL,
    subject text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS idv_oidc_tokens_request_idx ON idv_oidc_tokens (request_id);
