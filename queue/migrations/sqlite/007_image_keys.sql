-- The workers' HPKE key pairs for document images (doc_auth.image_encryption:
-- hpke; docs/encryption.md). public_key is the raw DHKEM(P-256) public key
-- (65 bytes, uncompressed), public by nature: the web tier serves it to the
-- capture page without unsealing anything. sealed_private_key is the key's
-- RFC 9180 SerializePrivateKey bytes sealed by idv's envelope sealer, its AAD
-- bound to the kid; only workers unseal it. A key with retired_at no longer
-- receives uploads and opens them only while an upload can be in flight.
CREATE TABLE IF NOT EXISTS idv_image_keys (
    kid text PRIMARY KEY NOT NULL,
    public_key blob NOT NULL,
    sealed_private_key blob NOT NULL,
    created_at text NOT NULL,
    retired_at text
);

-- Encapsulated keys (HPKE enc) workers have opened images with, by SHA-256,
-- so one seen under another capture or side is refused. Rows older than
-- the keys' in-flight window are pruned by the workers.
CREATE TABLE IF NOT EXISTS idv_image_encapsulations (
    enc_hash blob PRIMARY KEY NOT NULL,
    kid text NOT NULL,
    capture_id text NOT NULL,
    side text NOT NULL,
    seen_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS idv_image_encapsulations_seen_at ON idv_image_encapsulations (seen_at);
