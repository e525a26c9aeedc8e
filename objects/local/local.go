// Package local is the object store of `idv dev`: objects are files in a
// folder, and the browser uploads through the web server itself, to URLs
// that carry an expiry and an HMAC-SHA256 signature the way pre-signed S3
// URLs do. It needs nothing installed, and it keeps the same contract as
// objects/s3 (both pass objects/objectstest), so the capture page and the
// worker cannot tell them apart.
//
// Its upload URLs are path-only (/uploads/{key}?expires=&sig=): the browser
// resolves them against the page's own origin, so uploads are same-origin
// (CSP connect-src 'self') whichever name the page was opened at
// (http://localhost:8080 or http://127.0.0.1:8080 alike).
package local

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/objects"
)

// UploadPath is where the web server mounts Handler. Upload URLs are
// UploadPath + key + "?expires=&sig=", with no scheme or host.
const UploadPath = "/uploads/"

// maxURLLen bounds a URL given to KeyFromURL: the store's own are about
// 150 bytes.
const maxURLLen = 2 << 10

// MinSecretLen is the shortest accepted signing secret.
const MinSecretLen = 32

// Layout of Dir: objects live under objectsDir; uploads are written under
// tmpDir and renamed into place, so a reader never sees half an object and
// no key (which may be any clean path) can collide with a temporary file.
const (
	objectsDir = "objects"
	tmpDir     = "tmp"
)

// Config configures a Store.
type Config struct {
	// Dir holds the objects. It is created (0700) if missing.
	Dir string
	// Secret signs upload URLs: at least MinSecretLen random bytes. Keep
	// it stable across restarts or URLs on open pages stop working.
	Secret []byte
	// Now is the clock for signing and expiry; nil means time.Now.
	Now func() time.Time
}

// Store is an idv.ObjectStore on a local folder.
type Store struct {
	dir    string
	secret []byte
	now    func() time.Time
}

var _ idv.ObjectStore = (*Store)(nil)

// New checks cfg and creates the folder.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, idv.Errorf(idv.EINVALID, "local object store: Dir is required")
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, idv.Errorf(idv.EINVALID, "local object store: Secret must be at least %d bytes", MinSecretLen)
	}
	for _, d := range []string{cfg.Dir, cfg.Dir + "/" + objectsDir, cfg.Dir + "/" + tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, idv.WrapError(idv.EUNAVAILABLE, "local object store: create folder", err)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		dir:    cfg.Dir,
		secret: append([]byte(nil), cfg.Secret...),
		now:    now,
	}, nil
}

// PresignPut implements idv.ObjectStore. The URL is path-only, relative to
// the origin of the page that holds it: /uploads/{key}?expires=&sig=.
// The URL also carries the one body length it accepts (size=).
func (s *Store) PresignPut(_ context.Context, key string, size int64, expires time.Duration) (string, error) {
	if err := objects.ValidKey(key); err != nil {
		return "", err
	}
	if size < 1 || size > idv.MaxImageBytes {
		return "", idv.Errorf(idv.EINVALID, "local object store: size must be between 1 and %d bytes", idv.MaxImageBytes)
	}
	if expires <= 0 {
		return "", idv.Errorf(idv.EINVALID, "local object store: expiry must be positive")
	}
	exp := strconv.FormatInt(s.now().Add(expires).Unix(), 10)
	n := strconv.FormatInt(size, 10)
	q := url.Values{"expires": {exp}, "size": {n}, "sig": {s.sign(http.MethodPut, key, exp, n)}}
	return UploadPath + key + "?" + q.Encode(), nil
}

// sign is the URL signature: HMAC-SHA256 over a version tag, the method,
// the key, the expiry and the body length, so a signature is valid for
// nothing else.
func (s *Store) sign(method, key, expires, size string) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "idv/upload/v2\n%s\n%s\n%s\n%s", method, key, expires, size)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// KeyFromURL implements idv.ObjectStore. It accepts exactly the form
// PresignPut issues: a path-only URL that starts with UploadPath (so not
// "//host" or "/\host", which a browser would send to another host),
// followed by a clean key (objects.ValidKey) and any query, which is
// ignored: the signature is checked when the URL is used. Everything else is
// refused with EINVALID: an absolute URL (to this server or any other, since
// the store never issues one), a relative path, another path, a fragment,
// any percent escape in the path. Nothing is ever fetched, and the error
// never quotes the URL: it came from a person.
func (s *Store) KeyFromURL(rawURL string) (string, error) {
	refuse := func(why string) (string, error) {
		return "", idv.Errorf(idv.EINVALID, "object URL is not one this store issued: %s", why)
	}
	switch {
	case len(rawURL) > maxURLLen:
		return refuse("too long")
	case !strings.HasPrefix(rawURL, UploadPath):
		return refuse("it is not a path under " + UploadPath)
	case strings.Contains(rawURL, "#"):
		return refuse("it has a fragment")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return refuse("it does not parse")
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return refuse("it is not path-only")
	}
	p := u.EscapedPath()
	if strings.Contains(p, "%") || u.RawPath != "" {
		return refuse("its path has percent escapes")
	}
	key, ok := strings.CutPrefix(p, UploadPath)
	if !ok || objects.ValidKey(key) != nil {
		return refuse("its key is not clean")
	}
	return key, nil
}

// Put implements idv.ObjectStore.
func (s *Store) Put(_ context.Context, key string, data []byte) error {
	if err := objects.ValidKey(key); err != nil {
		return err
	}
	if len(data) > idv.MaxImageBytes {
		return idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	_, err := s.write(key, bytes.NewReader(data), int64(len(data)))
	return err
}

// Get implements idv.ObjectStore.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	if err := objects.ValidKey(key); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "local object store: open folder", err)
	}
	defer root.Close()
	f, err := root.Open(objectsDir + "/" + key)
	if missing(err) {
		return nil, idv.ErrNotFound
	} else if err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "local object store: open object", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "local object store: stat object", err)
	}
	if st.IsDir() {
		return nil, idv.ErrNotFound
	}
	if st.Size() > idv.MaxImageBytes {
		return nil, idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, idv.MaxImageBytes+1))
	if err != nil {
		return nil, idv.WrapError(idv.EUNAVAILABLE, "local object store: read object", err)
	}
	if len(data) > idv.MaxImageBytes {
		return nil, idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)
	}
	return data, nil
}

// Delete implements idv.ObjectStore. Emptied folders stay: removing them
// would race with an upload into the same capture.
func (s *Store) Delete(_ context.Context, key string) error {
	if err := objects.ValidKey(key); err != nil {
		return err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "local object store: open folder", err)
	}
	defer root.Close()
	st, err := root.Lstat(objectsDir + "/" + key)
	if missing(err) {
		return nil
	} else if err != nil {
		return idv.WrapError(idv.EUNAVAILABLE, "local object store: stat object", err)
	}
	if st.IsDir() {
		return nil // a folder of other keys, not an object
	}
	if err := root.Remove(objectsDir + "/" + key); err != nil && !missing(err) {
		return idv.WrapError(idv.EUNAVAILABLE, "local object store: delete object", err)
	}
	return nil
}

// missing reports whether err means there is no object: the file does not
// exist, or a parent of the key is a file, not a folder.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// errTooLarge marks a body over MaxImageBytes while writing.
var errTooLarge = idv.Errorf(idv.EINVALID, "object is over %d bytes", idv.MaxImageBytes)

// write copies r to a temporary file (0600) and renames it to the key's path
// (folders 0700), so the object appears whole or not at all. All paths go
// through an os.Root on Dir: a key can never reach outside it, not even
// through a symbolic link placed inside. Anything but exactly want bytes is
// refused and nothing is kept. It returns the bytes written.
func (s *Store) write(key string, r io.Reader, want int64) (int64, error) {
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return 0, idv.WrapError(idv.EUNAVAILABLE, "local object store: open folder", err)
	}
	defer root.Close()
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, idv.WrapError(idv.EUNAVAILABLE, "local object store: create file", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, idv.MaxImageBytes+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || err == nil && n > idv.MaxImageBytes:
		_ = root.Remove(tmp)
		return n, errTooLarge
	case err != nil:
		_ = root.Remove(tmp)
		return n, idv.WrapError(idv.EUNAVAILABLE, "local object store: write object", err)
	case n != want:
		_ = root.Remove(tmp)
		return n, idv.Errorf(idv.EINVALID, "object is %d bytes, not the %d announced", n, want)
	}
	dst := objectsDir + "/" + key
	if err := root.MkdirAll(path.Dir(dst), 0o700); err != nil {
		_ = root.Remove(tmp)
		return n, idv.WrapError(idv.EUNAVAILABLE, "local object store: create folder", err)
	}
	if err := root.Rename(tmp, dst); err != nil {
		_ = root.Remove(tmp)
		return n, idv.WrapError(idv.EUNAVAILABLE, "local object store: store object", err)
	}
	return n, nil
}

// Handler serves the upload URLs: PUT /uploads/{key...}?expires=&sig=. The
// web server mounts it at UploadPath unchanged (no prefix stripping).
//
// Refusals are short plain-text answers that say what to fix, and nothing is
// written on any of them: 403 for a bad or expired signature, 415 for a
// Content-Type other than application/octet-stream, 413 for a body over
// idv.MaxImageBytes. Success is 204.
func (s *Store) Handler() http.Handler { return http.HandlerFunc(s.serveUpload) }

func (s *Store) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "Only PUT is allowed here.", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.EscapedPath()
	key, ok := strings.CutPrefix(p, UploadPath)
	if !ok || strings.Contains(p, "%") || objects.ValidKey(key) != nil {
		http.Error(w, "This is not an upload URL.", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	exp, size, sig := q["expires"], q["size"], q["sig"]
	if len(exp) != 1 || len(size) != 1 || len(sig) != 1 ||
		!hmac.Equal([]byte(sig[0]), []byte(s.sign(http.MethodPut, key, exp[0], size[0]))) {
		http.Error(w, "The upload URL's signature is not valid.", http.StatusForbidden)
		return
	}
	unix, err := strconv.ParseInt(exp[0], 10, 64)
	if err != nil || !s.now().Before(time.Unix(unix, 0)) {
		http.Error(w, "The upload URL has expired: ask the page for a new one.", http.StatusForbidden)
		return
	}
	n, err := strconv.ParseInt(size[0], 10, 64)
	if err != nil || n < 1 || n > idv.MaxImageBytes {
		http.Error(w, "The upload URL's signature is not valid.", http.StatusForbidden)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/octet-stream" {
		http.Error(w, "Content-Type must be application/octet-stream.", http.StatusUnsupportedMediaType)
		return
	}
	switch {
	case r.ContentLength < 0:
		// Chunked: the length is not known before the body is read.
		http.Error(w, "Send the file with a Content-Length.", http.StatusLengthRequired)
		return
	case r.ContentLength > n:
		http.Error(w, fmt.Sprintf("The file is over the %d bytes this URL is for.", n), http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength != n:
		// S3 answers a Content-Length other than the signed one with
		// 403 (the signature does not match); so does this store.
		http.Error(w, fmt.Sprintf("This URL is for a file of exactly %d bytes.", n), http.StatusForbidden)
		return
	}
	// net/http never reads past Content-Length; the cap is a second lock.
	written, err := s.write(key, http.MaxBytesReader(w, r.Body, n), n)
	if err != nil {
		if err == errTooLarge {
			http.Error(w, fmt.Sprintf("The file is over the %d bytes this URL is for.", n), http.StatusRequestEntityTooLarge)
			return
		}
		if written != n {
			http.Error(w, fmt.Sprintf("This URL is for a file of exactly %d bytes.", n), http.StatusBadRequest)
			return
		}
		http.Error(w, "The upload could not be stored. Try again.", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
