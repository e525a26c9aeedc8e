// Package kmstest is an in-process stand-in for AWS KMS, for tests. It
// speaks the KMS wire protocol (JSON 1.1 over HTTP, SigV4-signed requests,
// AWS-style error bodies), so code under test drives it through the real
// aws-sdk-go-v2 KMS client; the usual local KMS servers cannot be installed
// where idv's tests run.
//
// It implements the symmetric operations idv uses, GenerateDataKey, Decrypt
// and Encrypt, with KMS's semantics where they matter to a caller: key ids,
// key ARNs, alias names and alias ARNs all name a key; the encryption
// context is bound into the ciphertext, so Decrypt with another context
// fails with InvalidCiphertextException; Decrypt with a KeyId that is not
// the ciphertext's key fails with IncorrectKeyException; disabled and
// deleted keys fail as KMS fails them. Tests can count calls per operation
// and inject faults (throttling, internal errors, a stalled server).
//
// It is not a security boundary: its master keys live in memory and its
// signature check exists to catch mis-wired clients, not attackers.
package kmstest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// The fixed identity of every Server. Credentials are fake and public.
const (
	Region          = "us-east-1"
	Account         = "111122223333"
	AccessKeyID     = "AKIAKMSTESTEXAMPLE01"
	SecretAccessKey = "kmstest/secret/not-a-real-secret/000000"
)

// Operation names, as in X-Amz-Target (TrentService.<Operation>).
const (
	OpGenerateDataKey = "GenerateDataKey"
	OpDecrypt         = "Decrypt"
	OpEncrypt         = "Encrypt"
)

// Hang is a fault that makes the server hold a request until the client
// gives up (its context ends) or the server closes: a KMS that stopped
// answering.
const Hang = "Hang"

// Key states, as KMS names them.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

// blobVersion starts every ciphertext blob this server makes.
const blobVersion = 0x4B

// keyIDLen is the length of a key id (a UUID string).
const keyIDLen = 36

type key struct {
	id    string
	aead  cipher.AEAD
	state string
}

// Server is a fake KMS listening on 127.0.0.1. Create it with NewServer or
// New; its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint to give the SDK client as BaseEndpoint.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]*key   // by key id
	aliases  map[string]string // alias name (alias/x) -> key id
	calls    map[string]int
	faults   map[string]string
	dataKeys [][]byte
	closed   chan struct{}
	once     sync.Once
}

// NewServer starts a Server with no keys. Close it when done.
func NewServer() *Server {
	s := &Server{
		keys:    map[string]*key{},
		aliases: map[string]string{},
		calls:   map[string]int{},
		faults:  map[string]string{},
		closed:  make(chan struct{}),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// New starts a Server that is closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: from then on clients get connection errors, as
// from a KMS that cannot be reached. Requests held by Hang are released.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Config returns an AWS configuration that reaches s with its static
// credentials. Retries are quick and few so that tests of failures are fast.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 2
				o.MaxBackoff = 10 * time.Millisecond
			})
		},
	}
}

// Client returns a real aws-sdk-go-v2 KMS client whose BaseEndpoint is s.
func (s *Server) Client(optFns ...func(*awskms.Options)) *awskms.Client {
	fns := append([]func(*awskms.Options){func(o *awskms.Options) { o.BaseEndpoint = aws.String(s.URL) }}, optFns...)
	return awskms.NewFromConfig(s.Config(), fns...)
}

// CreateKey adds an enabled symmetric key and returns its ARN.
func (s *Server) CreateKey() string {
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	block, _ := aes.NewCipher(master)
	aead, _ := cipher.NewGCM(block)
	id := newUUID()
	s.mu.Lock()
	s.keys[id] = &key{id: id, aead: aead, state: stateEnabled}
	s.mu.Unlock()
	return KeyARN(id)
}

// KeyARN returns the ARN of the key with the given id.
func KeyARN(id string) string {
	return "arn:aws:kms:" + Region + ":" + Account + ":key/" + id
}

// SetAlias points alias (alias/NAME) at the key named by ref, creating or
// moving it, as CreateAlias and UpdateAlias do.
func (s *Server) SetAlias(alias, ref string) {
	if !strings.HasPrefix(alias, "alias/") {
		panic("kmstest: alias names start with alias/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.resolveLocked(ref)
	if k == nil {
		panic("kmstest: SetAlias of an unknown key")
	}
	s.aliases[alias] = k.id
}

// DisableKey makes the key fail every operation with DisabledException.
func (s *Server) DisableKey(ref string) { s.setState(ref, stateDisabled) }

// EnableKey undoes DisableKey or ScheduleKeyDeletion.
func (s *Server) EnableKey(ref string) { s.setState(ref, stateEnabled) }

// ScheduleKeyDeletion makes the key fail with KMSInvalidStateException.
func (s *Server) ScheduleKeyDeletion(ref string) { s.setState(ref, statePendingDeletion) }

// DeleteKey removes the key and its aliases: what it encrypted no longer
// decrypts, and naming it is NotFoundException.
func (s *Server) DeleteKey(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.resolveLocked(ref)
	if k == nil {
		return
	}
	delete(s.keys, k.id)
	for a, id := range s.aliases {
		if id == k.id {
			delete(s.aliases, a)
		}
	}
}

func (s *Server) setState(ref, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.resolveLocked(ref); k != nil {
		k.state = state
	}
}

// Fail makes every later call of op fail with the AWS error code errType
// (ThrottlingException, KMSInternalException, DependencyTimeoutException,
// ... or Hang) until Fail(op, "") clears it. The call is still counted.
func (s *Server) Fail(op, errType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errType == "" {
		delete(s.faults, op)
		return
	}
	s.faults[op] = errType
}

// Calls returns how many requests for op the server received.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// DataKeys returns copies of the plaintext data keys GenerateDataKey has
// handed out, so tests can check that no error text or log line carries one.
func (s *Server) DataKeys() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.dataKeys))
	for i, k := range s.dataKeys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// resolveLocked finds the key a KeyId parameter names: a key id, a key
// ARN, an alias name or an alias ARN of this server's region and account.
func (s *Server) resolveLocked(ref string) *key {
	prefix := "arn:aws:kms:" + Region + ":" + Account + ":"
	if rest, ok := strings.CutPrefix(ref, prefix); ok {
		switch {
		case strings.HasPrefix(rest, "key/"):
			ref = strings.TrimPrefix(rest, "key/")
		case strings.HasPrefix(rest, "alias/"):
			ref = rest
		default:
			return nil
		}
	} else if strings.HasPrefix(ref, "arn:") {
		return nil // another region, account or partition
	}
	if strings.HasPrefix(ref, "alias/") {
		id, ok := s.aliases[ref]
		if !ok {
			return nil
		}
		ref = id
	}
	return s.keys[ref]
}

// apiError is an error answer: HTTP status, AWS error code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// faultStatus is the HTTP status KMS answers an error code with.
func faultStatus(code string) int {
	switch code {
	case "KMSInternalException":
		return http.StatusInternalServerError
	case "DependencyTimeoutException", "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		writeError(w, errorf(http.StatusNotFound, "UnknownOperationException", "KMS accepts POST / only"))
		return
	case !ok:
		writeError(w, errorf(http.StatusBadRequest, "UnknownOperationException", "missing or foreign X-Amz-Target"))
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		writeError(w, errorf(http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "SerializationException", "cannot read the request body"))
		return
	}
	if e := checkSignature(r, body); e != nil {
		writeError(w, e)
		return
	}

	s.mu.Lock()
	s.calls[op]++
	fault := s.faults[op]
	s.mu.Unlock()
	if fault == Hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	if fault != "" {
		writeError(w, errorf(faultStatus(fault), fault, "injected fault"))
		return
	}

	var out any
	var e *apiError
	switch op {
	case OpGenerateDataKey:
		out, e = s.generateDataKey(body)
	case OpDecrypt:
		out, e = s.decrypt(body)
	case OpEncrypt:
		out, e = s.encrypt(body)
	default:
		e = errorf(http.StatusBadRequest, "UnknownOperationException", "operation %s is not implemented by kmstest", op)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// checkSignature recomputes the request's SigV4 signature with the server's
// credentials over the headers the client says it signed, so a client with
// the wrong credentials, region or service fails as it would against KMS.
func checkSignature(r *http.Request, body []byte) *apiError {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return errorf(http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not signed with SigV4")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
			fields[k] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != AccessKeyID {
		return errorf(http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if scope[2] != Region || scope[3] != "kms" || scope[4] != "aws4_request" {
		return errorf(http.StatusBadRequest, "InvalidSignatureException", "credential scope must be %s/kms/aws4_request", Region)
	}
	signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errorf(http.StatusBadRequest, "InvalidSignatureException", "missing or malformed X-Amz-Date")
	}
	if d := time.Since(signingTime); d > 5*time.Minute || d < -5*time.Minute {
		return errorf(http.StatusBadRequest, "InvalidSignatureException", "Signature expired")
	}

	clone, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	clone.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			clone.ContentLength = r.ContentLength
		default:
			if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
				clone.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), "kms", Region, signingTime); err != nil {
		return errorf(http.StatusBadRequest, "InvalidSignatureException", "cannot check the signature")
	}
	if clone.Header.Get("Authorization") != auth {
		return errorf(http.StatusBadRequest, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided.")
	}
	return nil
}

// The request and response shapes, as JSON 1.1 writes them: blobs are
// base64 strings, which encoding/json does for []byte.
type generateDataKeyInput struct {
	KeyId             string
	KeySpec           string
	NumberOfBytes     *int
	EncryptionContext map[string]string
}

type decryptInput struct {
	CiphertextBlob    []byte
	KeyId             string
	EncryptionContext map[string]string
}

type encryptInput struct {
	KeyId             string
	Plaintext         []byte
	EncryptionContext map[string]string
}

func decode(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	return nil
}

// usableKeyLocked resolves ref for an operation that needs the key enabled.
func (s *Server) usableKeyLocked(ref string) (*key, *apiError) {
	if ref == "" {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	k := s.resolveLocked(ref)
	if k == nil {
		return nil, errorf(http.StatusBadRequest, "NotFoundException", "Key '%s' does not exist", ref)
	}
	switch k.state {
	case stateDisabled:
		return nil, errorf(http.StatusBadRequest, "DisabledException", "%s is disabled.", KeyARN(k.id))
	case statePendingDeletion:
		return nil, errorf(http.StatusBadRequest, "KMSInvalidStateException", "%s is pending deletion.", KeyARN(k.id))
	}
	return k, nil
}

func (s *Server) generateDataKey(body []byte) (any, *apiError) {
	var in generateDataKeyInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	n := 0
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, errorf(http.StatusBadRequest, "ValidationException", "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, errorf(http.StatusBadRequest, "ValidationException", "unknown KeySpec")
	case in.NumberOfBytes != nil && *in.NumberOfBytes >= 1 && *in.NumberOfBytes <= 1024:
		n = *in.NumberOfBytes
	default:
		return nil, errorf(http.StatusBadRequest, "ValidationException", "Please specify either number of bytes or key spec.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.usableKeyLocked(in.KeyId)
	if e != nil {
		return nil, e
	}
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	s.dataKeys = append(s.dataKeys, bytes.Clone(plain))
	return map[string]any{
		"CiphertextBlob": k.seal(plain, in.EncryptionContext),
		"Plaintext":      plain,
		"KeyId":          KeyARN(k.id),
	}, nil
}

func (s *Server) encrypt(body []byte) (any, *apiError) {
	var in encryptInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.Plaintext) == 0 || len(in.Plaintext) > 4096 {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "Plaintext must be 1 to 4096 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.usableKeyLocked(in.KeyId)
	if e != nil {
		return nil, e
	}
	return map[string]any{
		"CiphertextBlob":      k.seal(in.Plaintext, in.EncryptionContext),
		"KeyId":               KeyARN(k.id),
		"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}, nil
}

func (s *Server) decrypt(body []byte) (any, *apiError) {
	var in decryptInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.CiphertextBlob) == 0 || len(in.CiphertextBlob) > 6144 {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "CiphertextBlob must be 1 to 6144 bytes")
	}
	blobKeyID, nonce, sealed, ok := parseBlob(in.CiphertextBlob)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidCiphertextException", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.KeyId != "" {
		named := s.resolveLocked(in.KeyId)
		if named == nil {
			return nil, errorf(http.StatusBadRequest, "NotFoundException", "Key '%s' does not exist", in.KeyId)
		}
		if named.id != blobKeyID {
			return nil, errorf(http.StatusBadRequest, "IncorrectKeyException",
				"The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	k, e := s.usableKeyLocked(blobKeyID)
	if e != nil {
		return nil, e
	}
	plain, err := k.aead.Open(nil, nonce, sealed, blobAAD(k.id, in.EncryptionContext))
	if err != nil {
		// KMS gives no detail here: wrong context and a changed blob
		// look the same.
		return nil, errorf(http.StatusBadRequest, "InvalidCiphertextException", "")
	}
	return map[string]any{
		"Plaintext":           plain,
		"KeyId":               KeyARN(k.id),
		"EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}, nil
}

// A ciphertext blob is: version byte, the key id (36 bytes), a 12-byte
// nonce, then AES-256-GCM of the plaintext under the key's master key, with
// the key id and the canonical encryption context as additional data. Like
// KMS's own blobs it names its key, so Decrypt needs no KeyId.
func (k *key) seal(plain []byte, ec map[string]string) []byte {
	out := append([]byte{blobVersion}, k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, blobAAD(k.id, ec))
}

func parseBlob(b []byte) (keyID string, nonce, sealed []byte, ok bool) {
	const head = 1 + keyIDLen + 12
	if len(b) < head+16 || b[0] != blobVersion {
		return "", nil, nil, false
	}
	return string(b[1 : 1+keyIDLen]), b[1+keyIDLen : head], b[head:], true
}

// blobAAD binds a blob to its key and encryption context. The context is
// written sorted and length-prefixed, so it is canonical (key order does
// not matter, as in KMS) and unambiguous.
func blobAAD(keyID string, ec map[string]string) []byte {
	out := []byte(keyID)
	for _, n := range slices.Sorted(maps.Keys(ec)) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(ec[n])))
		out = append(out, ec[n]...)
	}
	return out
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
