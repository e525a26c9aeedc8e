package kms

// WithEncryptionContext returns a copy of w that sends ec instead of idv's
// encryption context: another application sharing the KMS key.
func (w *Wrapper) WithEncryptionContext(ec map[string]string) *Wrapper {
	c := *w
	c.context = ec
	return &c
}
