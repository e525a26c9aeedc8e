-- Receipt signing keys (ES256, P-256). sealed_private_key is the PKCS #8
-- key sealed by idv's envelope sealer, its AAD bound to the kid: the private
-- key is never here in clear. public_key (SubjectPublicKeyInfo DER) is
-- public by nature, so the key set is served without unsealing. A key with
-- retired_at signs no more and stays published for a while after it.
CREATE TABLE IF NOT EXISTS idv_signing_keys (
    kid text PRIMARY KEY NOT NULL,
    public_key blob NOT NULL,
    sealed_private_key blob NOT NULL,
    created_at text NOT NULL,
    retired_at text
);
