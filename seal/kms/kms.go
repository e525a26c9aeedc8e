// Package kms wraps idv's data keys with AWS KMS: it is the production
// seal.KeyWrapper. The envelope (package seal) asks it for a data key
// (GenerateDataKey) when it starts sealing with a new one, and to unwrap a
// data key (Decrypt) when it opens a value whose key it has not cached, so
// KMS is called once per data-key lifetime and once per data key per
// process, not per job.
//
// Every call carries the same encryption context, {"purpose":
// "idv-envelope"}: KMS binds it into the wrapped key, so a data key wrapped
// for another purpose (by another application using the same KMS key) does
// not unwrap here, and IAM policies can require it
// (kms:EncryptionContext:purpose).
//
// The key id written into each sealed value is the key ARN that KMS reports,
// whatever form the configuration names the key in (key id, ARN, alias), so
// values keep opening after the key is rotated to a new one: Decrypt names
// the value's own key, GenerateDataKey the configured one.
package kms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// DefaultCallTimeout is Options.CallTimeout when it is zero.
const DefaultCallTimeout = 10 * time.Second

// encryptionContextPurpose is the value of the one encryption context pair.
const encryptionContextPurpose = "idv-envelope"

// EncryptionContext returns the encryption context every call carries.
func EncryptionContext() map[string]string {
	return map[string]string{"purpose": encryptionContextPurpose}
}

// Client is the part of the aws-sdk-go-v2 KMS client the Wrapper uses
// (*kms.Client implements it).
type Client interface {
	GenerateDataKey(ctx context.Context, in *awskms.GenerateDataKeyInput, optFns ...func(*awskms.Options)) (*awskms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *awskms.DecryptInput, optFns ...func(*awskms.Options)) (*awskms.DecryptOutput, error)
}

// Options configures a Wrapper.
type Options struct {
	// KeyID names the KMS key that wraps new data keys: a key id, key
	// ARN, alias name (alias/idv) or alias ARN. Naming an alias lets an
	// operator rotate to a new key by moving the alias.
	KeyID string
	// CallTimeout bounds one KMS call, the SDK's retries included, so a
	// KMS that stopped answering fails a job instead of holding it.
	// Default DefaultCallTimeout.
	CallTimeout time.Duration
}

// Wrapper is a seal.KeyWrapper backed by AWS KMS. It is safe for concurrent
// use and keeps no key material: the envelope caches data keys.
type Wrapper struct {
	client  Client
	keyID   string
	timeout time.Duration
	context map[string]string
}

var _ seal.KeyWrapper = (*Wrapper)(nil)

// reKeyRef matches what KMS accepts as a KeyId: a key id (UUID or a
// multi-Region mrk- id), an alias name, or the ARN of either.
var reKeyRef = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?(key/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$|^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?alias/[A-Za-z0-9/_-]{1,250}$`)

// reKeyARN matches a key ARN: what KMS reports and so what sealed values
// name.
var reKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,64}$`)

// ValidKeyRef reports whether ref is a form KMS accepts as a KeyId.
func ValidKeyRef(ref string) bool {
	if !reKeyRef.MatchString(ref) {
		return false
	}
	// A bare "key/<id>" is not a form KMS accepts; only the ARN has it.
	return !strings.HasPrefix(ref, "key/")
}

// New returns a Wrapper over client that wraps new data keys under
// opts.KeyID.
func New(client Client, opts Options) (*Wrapper, error) {
	if client == nil {
		return nil, errors.New("kms: New needs a client")
	}
	if !ValidKeyRef(opts.KeyID) {
		return nil, idv.Errorf(idv.EINVALID, "KMS key id %q is not a key id, key ARN, alias name or alias ARN", opts.KeyID)
	}
	if opts.CallTimeout < 0 {
		return nil, idv.Errorf(idv.EINVALID, "KMS call timeout must not be negative")
	}
	opts.CallTimeout = cmp.Or(opts.CallTimeout, DefaultCallTimeout)
	return &Wrapper{client: client, keyID: opts.KeyID, timeout: opts.CallTimeout, context: EncryptionContext()}, nil
}

// Config is how Open reaches KMS.
type Config struct {
	// KeyID is Options.KeyID.
	KeyID string
	// Region is the key's AWS region. Empty: the region of KeyID when it
	// is an ARN, else the SDK's usual sources (AWS_REGION, the shared
	// config file).
	Region string
	// Endpoint overrides the KMS endpoint (a VPC endpoint, a test
	// server). Empty: the region's public endpoint.
	Endpoint string
	// CallTimeout is Options.CallTimeout.
	CallTimeout time.Duration
}

// Open builds a KMS client the way AWS deployments expect (credentials from
// the SDK's default chain: environment, shared files, the instance or task
// role; no secret in idv's configuration) and returns a Wrapper over it. It
// makes no call to KMS.
func Open(ctx context.Context, c Config) (*Wrapper, error) {
	if !ValidKeyRef(c.KeyID) {
		return nil, idv.Errorf(idv.EINVALID, "KMS key id %q is not a key id, key ARN, alias name or alias ARN", c.KeyID)
	}
	region := c.Region
	if region == "" {
		region = RegionOf(c.KeyID)
	}
	var load []func(*awsconfig.LoadOptions) error
	if region != "" {
		load = append(load, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "cannot load the AWS configuration for KMS", err)
	}
	if cfg.Region == "" {
		return nil, idv.Errorf(idv.EINVALID, "KMS needs a region: set keys.kms_region, AWS_REGION, or name the key by its ARN")
	}
	client := awskms.NewFromConfig(cfg, func(o *awskms.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return New(client, Options{KeyID: c.KeyID, CallTimeout: c.CallTimeout})
}

// RegionOf returns the region of a KMS key or alias ARN, or "".
func RegionOf(ref string) string {
	parts := strings.SplitN(ref, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "kms" {
		return parts[3]
	}
	return ""
}

// KeyID returns the configured key reference that wraps new data keys.
func (w *Wrapper) KeyID() string { return w.keyID }

// String describes the wrapper without secrets.
func (w *Wrapper) String() string { return "kms.Wrapper(key=" + w.keyID + ")" }

// GenerateDataKey asks KMS for a fresh AES-256 data key under the configured
// key. The key id returned is the key ARN KMS reports. Every failure is
// idv.EUNAVAILABLE: nothing a caller sealed is wrong, the key service is
// (unreachable, throttling, the key disabled, missing or not permitted).
func (w *Wrapper) GenerateDataKey(ctx context.Context) (keyID string, plaintext, wrapped []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{
		KeyId:             aws.String(w.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: w.context,
	})
	if err != nil {
		return "", nil, nil, callError("GenerateDataKey", w.keyID, err, false)
	}
	arn := aws.ToString(out.KeyId)
	switch {
	case !reKeyARN.MatchString(arn) || len(arn) > seal.MaxKeyIDLen:
		clear(out.Plaintext)
		return "", nil, nil, idv.Errorf(idv.EINTERNAL, "KMS GenerateDataKey for key %s reported a key id that is not a key ARN", w.keyID)
	case len(out.Plaintext) != seal.DataKeySize || len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > seal.MaxWrappedKeyLen:
		clear(out.Plaintext)
		return "", nil, nil, idv.Errorf(idv.EINTERNAL, "KMS GenerateDataKey for key %s returned a data key of the wrong size", arn)
	}
	return arn, out.Plaintext, out.CiphertextBlob, nil
}

// UnwrapDataKey asks KMS to decrypt a wrapped data key, naming the key the
// sealed value names and the encryption context. A value KMS refuses as
// such (changed, wrapped with another context, under another key, naming a
// key that does not exist) is idv.ETAMPERED; a key service that cannot
// answer, or a key that is disabled, is idv.EUNAVAILABLE.
func (w *Wrapper) UnwrapDataKey(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	if !reKeyARN.MatchString(keyID) {
		// Not something GenerateDataKey wrote; no need to ask KMS.
		return nil, idv.Errorf(idv.ETAMPERED, "sealed value names a key that is not a KMS key ARN")
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	out, err := w.client.Decrypt(ctx, &awskms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(keyID),
		EncryptionContext: w.context,
	})
	if err != nil {
		return nil, callError("Decrypt", keyID, err, true)
	}
	if aws.ToString(out.KeyId) != keyID {
		clear(out.Plaintext)
		return nil, idv.Errorf(idv.ETAMPERED, "KMS Decrypt used key %s, not the sealed value's key %s", aws.ToString(out.KeyId), keyID)
	}
	return out.Plaintext, nil
}

// callError maps a KMS call's error onto the seal.KeyWrapper contract. Its
// text names the operation, the key, the AWS error code and request id and
// KMS's message, never anything from the request or response bodies (which
// hold wrapped and plaintext keys): the SDK's own error text is not used
// as is, since a response it could not decode may be quoted in it.
func callError(op, keyID string, err error, decrypt bool) error {
	what := fmt.Sprintf("KMS %s with key %s", op, keyID)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		detail := apiErr.ErrorCode()
		if m := printable(apiErr.ErrorMessage()); m != "" {
			detail += ": " + m
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.ServiceRequestID() != "" {
			detail += " (request id " + printable(re.ServiceRequestID()) + ")"
		}
		if decrypt && refusesValue(apiErr.ErrorCode()) {
			return idv.Errorf(idv.ETAMPERED, "%s refused the sealed value's data key: %s", what, detail)
		}
		return idv.Errorf(idv.EUNAVAILABLE, "%s failed: %s", what, detail)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return idv.WrapError(idv.EUNAVAILABLE, what+" timed out", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return idv.WrapError(idv.EUNAVAILABLE, what+" was canceled", context.Canceled)
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return idv.Errorf(idv.EUNAVAILABLE, "%s failed: %s", what, printable(netErr.Error()))
	}
	var deser *smithy.DeserializationError
	if errors.As(err, &deser) {
		return idv.Errorf(idv.EUNAVAILABLE, "%s failed: the answer could not be read", what)
	}
	return idv.Errorf(idv.EUNAVAILABLE, "%s failed (%T)", what, err)
}

// refusesValue reports whether a Decrypt error code means KMS judged the
// value itself: no retry or other process will open it. Everything else
// (throttling, KMSInternalException, DisabledException,
// KMSInvalidStateException, AccessDeniedException, ...) is about the
// service or the key's state and may pass.
func refusesValue(code string) bool {
	switch code {
	case "InvalidCiphertextException", // changed, or another encryption context
		"IncorrectKeyException",    // wrapped under another key than it names
		"NotFoundException",        // names a key that does not exist
		"InvalidKeyUsageException", // names a key that cannot decrypt
		"ValidationException":      // a blob KMS will not even parse
		return true
	}
	return false
}

// printable keeps error details one short line of printable ASCII.
func printable(s string) string {
	const max = 300
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		if r >= 0x20 && r < 0x7F {
			b.WriteRune(r)
		}
	}
	return b.String()
}
