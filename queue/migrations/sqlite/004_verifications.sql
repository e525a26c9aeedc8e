-- Times are UTC text, "YYYY-MM-DD HH:MM:SS.fffffffff" (see 001).
-- Relying parties: the services that ask idv to verify a person. The API
-- key is kept only as its SHA-256 (it has 256 bits of entropy); the webhook
-- secret is sealed by the envelope (AAD idv/relying-party/v1|<id>|webhook).
CREATE TABLE IF NOT EXISTS idv_relying_parties (
    id text PRIMARY KEY NOT NULL,
    name text NOT NULL,
    api_key_hash text NOT NULL UNIQUE,
    api_key_hint text NOT NULL,
    webhook_url text NOT NULL DEFAULT '',
    webhook_secret blob,
    return_urls text NOT NULL DEFAULT '[]',
    outputs text NOT NULL DEFAULT '[]',
    created_at text NOT NULL,
    disabled_at text
);

-- One row per verification: one person, one relying party, one outcome.
-- identity and metadata are sealed (AAD idv/verification/v1|<id>|...);
-- client_reference_id is the relying party's opaque end-user id (checked
-- not to look like an e-mail address or a name).
CREATE TABLE IF NOT EXISTS idv_verifications (
    id text PRIMARY KEY NOT NULL,
    relying_party_id text NOT NULL REFERENCES idv_relying_parties (id),
    client_reference_id text NOT NULL,
    status text NOT NULL,
    return_url text NOT NULL DEFAULT '',
    last_error text NOT NULL DEFAULT '',
    identity blob,
    metadata blob,
    idempotency_key text,
    request_hash text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    expires_at text NOT NULL,
    finished_at text,
    redacted_at text,
    UNIQUE (relying_party_id, idempotency_key)
);

CREATE INDEX IF NOT EXISTS idv_verifications_rp_created_idx
    ON idv_verifications (relying_party_id, created_at, id);
CREATE INDEX IF NOT EXISTS idv_verifications_rp_ref_idx
    ON idv_verifications (relying_party_id, client_reference_id);
CREATE INDEX IF NOT EXISTS idv_verifications_open_expires_idx
    ON idv_verifications (expires_at) WHERE status IN ('requires_input', 'processing');

-- One row per step of a verification. An attempt begins only through one
-- guarded UPDATE (attempt_result_id IS NULL AND attempts < max_attempts),
-- under the verification row's lock.
CREATE TABLE IF NOT EXISTS idv_verification_steps (
    verification_id text NOT NULL REFERENCES idv_verifications (id) ON DELETE CASCADE,
    step text NOT NULL,
    position integer NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    attempt_result_id text,
    attempt_started_at text,
    last_outcome text NOT NULL DEFAULT '',
    PRIMARY KEY (verification_id, step)
);

-- The person's single-use links: only the hash of the token is kept.
CREATE TABLE IF NOT EXISTS idv_verification_links (
    token_hash text PRIMARY KEY,
    verification_id text NOT NULL REFERENCES idv_verifications (id) ON DELETE CASCADE,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    used_at text
);

-- The transactional outbox of webhook events: written in the transaction of
-- the state change. Thin events: ids and a status, no PII.
CREATE TABLE IF NOT EXISTS idv_webhook_events (
    id text PRIMARY KEY NOT NULL,
    verification_id text NOT NULL,
    relying_party_id text NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    created_at text NOT NULL,
    delivered_at text,
    delivering_until text,
    attempts integer NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS idv_webhook_events_verification_idx ON idv_webhook_events (verification_id, created_at);
CREATE INDEX IF NOT EXISTS idv_webhook_events_undelivered_idx ON idv_webhook_events (created_at) WHERE delivered_at IS NULL;

-- Each delivery attempt: status and latency, never the body.
CREATE TABLE IF NOT EXISTS idv_webhook_attempts (
    event_id text NOT NULL REFERENCES idv_webhook_events (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    status_code integer NOT NULL,
    latency_ms integer NOT NULL,
    error text NOT NULL DEFAULT '',
    attempted_at text NOT NULL,
    PRIMARY KEY (event_id, attempt)
);

ALTER TABLE idv_capture_sessions ADD COLUMN verification_id text;
ALTER TABLE idv_outcomes ADD COLUMN verification_id text;
