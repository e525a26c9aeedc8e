// Package seal is idv's envelope encryption: it seals job arguments, results
// in the result store and session data so that PII is never stored in the
// clear, and opens them again in another process.
//
// # How it works
//
// Values are encrypted with AES-256-GCM under a 32-byte data key. The data
// key itself is encrypted ("wrapped") by a KeyWrapper: AWS KMS in production,
// a LocalKeyRing backed by a 0600 key file in development. The wrapped data
// key travels inside every sealed value, so any process that can reach the
// wrapper can open it, and wrapping keys can rotate: new values name the
// newest wrapping key, old values still name (and open with) theirs.
//
// Calling the wrapper per value would put KMS on the hot path of every job,
// so an Envelope reuses one data key for a bounded time and number of seals
// (Options.DataKeyTTL, Options.DataKeyMaxUses) and keeps recently unwrapped
// data keys in a small bounded cache for Open (Options.OpenCacheSize,
// Options.OpenCacheTTL).
//
// # Byte format (version 1)
//
// This is the only description of the format; format.go implements it.
// Integers are big-endian.
//
//	offset          size  field
//	0               1     format byte 0xE1: 0xE marks an idv envelope, 1 is the version
//	1               1     k = length of the key id, 1..255
//	2               k     key id: printable ASCII (0x21..0x7E), e.g. a KMS key ARN
//	2+k             2     w = length of the wrapped data key, 1..6144
//	4+k             w     wrapped data key (for KMS: the CiphertextBlob)
//	4+k+w           12    GCM nonce, random per value
//	16+k+w          n     ciphertext, as long as the plaintext
//	16+k+w+n        16    GCM tag
//
// The bytes from offset 0 to 4+k+w are the header. The additional data given
// to GCM is header || aad, where aad is the caller's additional data (for
// example idv.JobAAD or idv.ResultAAD). The header is self-delimiting, so the
// concatenation is unambiguous, and because it is authenticated no part of it
// (version, key id, wrapped key) can be swapped without Open failing. The
// shortest valid value is 34 bytes (one-byte key id, one-byte wrapped key,
// empty plaintext).
//
// The format byte is not 0x7B ('{') or 0x00, so plain JSON or a zeroed
// buffer stored by mistake is rejected at once rather than mistaken for a
// sealed value.
//
// # Errors
//
// Every failure of Open that a changed, truncated or foreign value can cause
// (bad format byte, malformed header, unknown key id, wrong key, wrong aad,
// tampered nonce, ciphertext or tag) is an *idv.Error with code
// idv.ETAMPERED and a message free of PII. A wrapper that cannot be reached
// gives idv.EUNAVAILABLE. No input makes Open panic.
//
// # Images
//
// OpenImage and SealImage handle the browser-encrypted document images: plain
// AES-256-GCM as WebCrypto produces it (12-byte IV, no AAD, 16-byte tag
// appended), keyed by the key the browser generated, not by an envelope.
// That is doc_auth.image_encryption form_key. Under hpke (the default) the
// browser seals each image to the workers' HPKE public key instead:
// ParseImageHeader, OpenImageHPKE and SealImageHPKE (image_hpke.go) handle
// that object, a small header (magic "IDVI", version, key id, encapsulated
// key) then the AES-256-GCM ciphertext; docs/encryption.md has the layout.
package seal
