// Package receipt signs the receipts idv gives a relying party (RP) for a
// finished verification: a compact JWS (ES256, with the signing key's id in
// the "kid" header) over Claims, which hold ids, the status and the outcome
// of each check, never anything about the person. An RP checks a receipt
// offline against the public keys at /.well-known/jwks.json (JWKSHandler).
//
// Signing keys are P-256 keys that idv generates itself. Each private key is
// sealed with idv's envelope sealer (AAD bound to the key id) before it is
// stored through a KeyStore, so the database never holds one in clear. The
// newest key that is not retired signs; Rotate adds a key and retires the
// ones before it, which stay published for Options.PublishRetiredFor so the
// receipts they signed can still be checked.
package receipt
