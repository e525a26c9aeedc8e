package ratelimit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint returns hex(HMAC-SHA256(key, value)): a stable target for a
// personal value (an SSN) that never puts the value itself in a key. An
// unkeyed hash would not do: the SSN space is small enough to enumerate. The
// key must be secret and at least 32 random bytes, and value should be
// normalized first (idv.Applicant.Normalize) so equal values match.
func Fingerprint(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}
