// Package s3 is the production idv.ObjectStore: an S3 bucket (AWS, or any
// store that speaks the S3 protocol with SigV4) through aws-sdk-go-v2. The
// browser PUTs each encrypted image through a URL pre-signed here; the
// worker Gets and Deletes with the SDK.
package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/objects"
)

// Timeouts of every call: a store that does not answer must not hold a
// worker (or a web request) for long. callTimeout covers retries and a
// whole MaxImageBytes transfer.
const (
	connectTimeout = 5 * time.Second
	callTimeout    = 30 * time.Second
)

// MaxPresignExpiry is the longest validity SigV4 allows a pre-signed URL.
const MaxPresignExpiry = 7 * 24 * time.Hour

// mediaType is the only Content-Type a pre-signed PUT accepts: the browser
// uploads ciphertext.
const mediaType = "application/octet-stream"

// Config configures a Store.
type Config struct {
	Bucket string
	// Region of the bucket. Empty: from the environment (AWS_REGION or the
	// shared config file).
	Region string
	// Endpoint is the store's base URL, e.g. http://127.0.0.1:7070 for
	// versitygw or MinIO. Empty means AWS.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials. Both empty:
	// the SDK's default chain (environment, shared files, web identity,
	// container or instance role).
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket as Endpoint/bucket/key instead of
	// bucket.host/key (needed by most self-hosted stores).
	PathStyle bool
	// Now is the signing time of pre-signed URLs; nil means time.Now.
	// Tests set it in the past to obtain URLs that are already expired.
	Now func() time.Time
}

// Store is an idv.ObjectStore on one S3 bucket.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	region  string
	origin  objects.Origin
}

var _ idv.ObjectStore = (*Store)(nil)

// New builds the client. It makes no request: credentials from the default
// chain are fetched on first use, so a misconfiguration shows on the first
// call (and in /api/health), not here.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, idv.Errorf(idv.EINVALID, "s3: Bucket is required")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, idv.Errorf(idv.EINVALID, "s3: set both AccessKeyID and SecretAccessKey, or neither")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" {
			return nil, idv.Errorf(idv.EINVALID, "s3: Endpoint must be an http(s) URL such as https://s3.example.com")
		}
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = connectTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = connectTimeout
			t.ResponseHeaderTimeout = callTimeout
		}).
		WithTimeout(callTimeout)
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Three attempts, backing off at most 1 s: a store that is down
		// fails the call in seconds and the job queue retries later.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = time.Second
			})
		}),
		// Since s3 v1.73 the SDK adds CRC checksums to every upload by
		// default. In a pre-signed URL they would become signed headers
		// (x-amz-sdk-checksum-algorithm, x-amz-checksum-*) that a browser
		// never sends, and every upload would fail. Only operations that
		// require a checksum (PutBucketCors, DeleteObjects) get one.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "s3: load AWS configuration", err)
	}
	if awsCfg.Region == "" {
		return nil, idv.Errorf(idv.EINVALID, "s3: Region is required (or AWS_REGION)")
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{
		client: client,
		presign: s3.NewPresignClient(client, func(o *s3.PresignOptions) {
			o.Presigner = clockSigner{now: now, signer: v4.NewSigner(func(so *v4.SignerOptions) {
				so.DisableURIPathEscaping = true // as the S3 client's own signer
			})}
		}),
		bucket: cfg.Bucket,
		region: awsCfg.Region,
	}
	// Learn the shape of this store's URLs from a URL signed with dummy
	// credentials (local work, no request): KeyFromURL then accepts
	// exactly what PresignPut produces, whatever the SDK's endpoint rules
	// decide for this region, endpoint and addressing style.
	const probe = "probe"
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(probe)},
		func(o *s3.PresignOptions) {
			o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider("probe", "probe", "")
			})
		})
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, "s3: resolve the bucket's URL", err)
	}
	if s.origin, err = objects.ParseOrigin(req.URL, probe); err != nil {
		return nil, err
	}
	return s, nil
}

// clockSigner signs pre-signed URLs at the Store's clock instead of the
// SDK's, so tests can issue a URL that is already expired.
type clockSigner struct {
	now    func() time.Time
	signer *v4.Signer
}

func (c clockSigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	_ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return c.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, c.now(), optFns...)
}

// PresignPut implements idv.ObjectStore. The URL signs the method, the key,
// the host, Content-Type: application/octet-stream and Content-Length: size,
// and nothing a browser would not send (a browser sets Content-Length from
// the body itself, and it is not a CORS request header).
func (s *Store) PresignPut(ctx context.Context, key string, size int64, expires time.Duration) (string, error) {
	if err := objects.ValidKey(key); err != nil {
		return "", err
	}
	if size < 1 || size > idv.MaxImageBytes {
		return "", idv.Errorf(idv.EINVALID, "s3: size must be between 1 and %d bytes", idv.MaxImageBytes)
	}
	if expires <= 0 || expires > MaxPresignExpiry {
		return "", idv.Errorf(idv.EINVALID, "s3: expiry must be between 1 s and 7 days")
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(key),
		ContentType: aws.String(mediaType),
		// A positive length is a signed header (content-length): S3
		// refuses a PUT whose Content-Length differs, and one without
		// any (chunked), as a signature mismatch.
		ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(expires))
	if err != nil {
		// Only credentials can fail here (the default chain is fetched).
		return "", idv.WrapError(idv.EUNAVAILABLE, "s3: pre-sign", err)
	}
	return req.URL, nil
}

// KeyFromURL implements idv.ObjectStore: the URL must have this store's
// scheme, host and port, and its path must be /<bucket>/<key> (path style)
// or /<key> on the bucket's own host (virtual-hosted style).
func (s *Store) KeyFromURL(rawURL string) (string, error) { return s.origin.KeyFromURL(rawURL) }

// Put implements idv.ObjectStore.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := objects.ValidKey(key); err != nil {
		return err
	}
	if len(data) > idv.MaxImageBytes {
		return idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(mediaType),
	})
	if err != nil {
		return classify("put object", err)
	}
	return nil
}

// Get implements idv.ObjectStore. It reads at most MaxImageBytes+1 bytes,
// whatever the store announces, so a huge object cannot exhaust a worker.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := objects.ValidKey(key); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, classify("get object", err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > idv.MaxImageBytes {
		return nil, idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, idv.MaxImageBytes+1))
	if err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "s3: read object", err)
	}
	if len(data) > idv.MaxImageBytes {
		return nil, idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	return data, nil
}

// Delete implements idv.ObjectStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objects.ValidKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if e := classify("delete object", err); idv.ErrorCode(e) != idv.ENOTFOUND {
			return e
		}
	}
	return nil
}

// EnsureBucket creates the bucket if it does not exist (for development and
// tests; in production the bucket is provisioned with its lifecycle rule).
func (s *Store) EnsureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	if !bucketMissing(err) {
		return classify("head bucket", err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}
	if s.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return classify("create bucket", err)
	}
	return nil
}

// SetCORS replaces the bucket's CORS configuration with one rule: PUT (and
// its preflight) with the Content-Type header, from exactly these origins
// (scheme://host[:port], no wildcard), preflights cached for maxAge. That
// is all the capture page needs; reads go through the worker, never the
// browser.
func (s *Store) SetCORS(ctx context.Context, allowedOrigins []string, maxAge time.Duration) error {
	if len(allowedOrigins) == 0 {
		return idv.Errorf(idv.EINVALID, "s3: CORS needs at least one allowed origin")
	}
	for _, o := range allowedOrigins {
		if !isOrigin(o) {
			return idv.Errorf(idv.EINVALID, "s3: CORS origin %q is not scheme://host[:port]", o)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(s.bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedMethods: []string{http.MethodPut},
			AllowedOrigins: append([]string(nil), allowedOrigins...),
			AllowedHeaders: []string{"Content-Type"},
			MaxAgeSeconds:  aws.Int32(int32(maxAge / time.Second)),
		}}},
	})
	if err != nil {
		return classify("put bucket CORS", err)
	}
	return nil
}

// isOrigin reports whether o is a browser origin as it appears in an Origin
// header: http(s)://host[:port], nothing else.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		u.Path == "" && u.RawQuery == "" && !strings.ContainsAny(o, "#*") && u.Scheme+"://"+u.Host == o
}

// classify turns an SDK error into a coded one: a missing object is
// ErrNotFound (the worker tells the person to upload again), a store that
// cannot be reached or answers 5xx is EUNAVAILABLE (the job is retried), and
// anything else (access denied, a missing bucket) is EINTERNAL: a
// misconfiguration for operators. The wrapped SDK error names the operation
// and status, never object content.
func classify(op string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return idv.ErrNotFound
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
		return idv.WrapError(idv.EINTERNAL, "s3: "+op+": the bucket does not exist", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusNotFound:
			return idv.ErrNotFound
		case code == 0 || code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
			return idv.WrapError(idv.EUNAVAILABLE, "s3: "+op, err)
		default:
			return idv.WrapError(idv.EINTERNAL, "s3: "+op, err)
		}
	}
	// No HTTP answer at all (status 0 above, or no response error):
	// refused, reset, timed out, cancelled.
	return idv.WrapError(idv.EUNAVAILABLE, "s3: "+op, err)
}

// bucketMissing reports whether a HeadBucket error means the bucket does
// not exist (HEAD answers carry no error code, only 404).
func bucketMissing(err error) bool {
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	var re *awshttp.ResponseError
	return errors.As(err, &nf) || errors.As(err, &nsb) ||
		errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}
