package objects

import (
	"net/url"
	"strings"

	"github.com/idv-dev/idv"
)

// MaxKeyLen bounds an object key. S3 allows 1024 bytes; idv's keys
// (idv.DocumentImageKey) are well under 100.
const MaxKeyLen = 512

// maxURLLen bounds a URL given to KeyFromURL: pre-signed S3 URLs run to
// about 1,500 bytes with a session token; anything far longer is not ours.
const maxURLLen = 8 << 10

// ValidKey returns an EINVALID error unless key is clean: 1 to MaxKeyLen
// characters from [A-Za-z0-9._/-], segments separated by single slashes,
// no empty segment (so no leading, trailing or doubled slash) and no "..".
// Such a key needs no escaping in a URL, maps to a path below a folder
// without any way out, and reads the same to every S3 implementation.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return idv.Errorf(idv.EINVALID, "object key is empty or too long")
	}
	for i := 0; i < len(key); i++ {
		if !keyChar(key[i]) {
			return idv.Errorf(idv.EINVALID, "object key has a character outside [A-Za-z0-9._/-]")
		}
	}
	if strings.Contains(key, "..") {
		return idv.Errorf(idv.EINVALID, "object key contains \"..\"")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." {
			return idv.Errorf(idv.EINVALID, "object key has an empty or \".\" segment")
		}
	}
	return nil
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

// Origin describes where a store's URLs point: every URL the store issues is
// Scheme://Host + Prefix + key, followed by a query string (the signature).
type Origin struct {
	Scheme string // "http" or "https"
	Host   string // host[:port], exactly as the store writes it
	Prefix string // path before the key, starting and ending with "/"
}

// ParseOrigin splits a URL the store issued for key (or would issue) into
// its Origin. Stores call it once at start-up on a URL they signed for a
// probe key, so the Origin matches their own URLs by construction.
func ParseOrigin(issued, key string) (Origin, error) {
	u, err := url.Parse(issued)
	if err != nil {
		return Origin{}, idv.WrapError(idv.EINVALID, "store URL does not parse", err)
	}
	p := u.EscapedPath()
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/"+key) {
		return Origin{}, idv.Errorf(idv.EINVALID, "store URL must be http(s)://host/path with the key last")
	}
	return Origin{Scheme: u.Scheme, Host: u.Host, Prefix: strings.TrimSuffix(p, key)}, nil
}

// URL returns the URL of key without a query.
func (o Origin) URL(key string) string { return o.Scheme + "://" + o.Host + o.Prefix + key }

// KeyFromURL returns the key of rawURL if the URL has exactly this origin's
// scheme and host (port included) and its path is Prefix followed by a
// clean key (ValidKey). The query is ignored: checking the signature is the
// store's business when the URL is used. Everything else is refused with
// EINVALID: user info, a fragment, an opaque or relative URL, any percent
// escape in the path (an escaped slash or dot could smuggle a segment past
// the checks), a path outside Prefix. Nothing is ever fetched.
//
// The error never quotes the URL: it came from a person.
func (o Origin) KeyFromURL(rawURL string) (string, error) {
	refuse := func(why string) (string, error) {
		return "", idv.Errorf(idv.EINVALID, "object URL is not one this store issued: %s", why)
	}
	if len(rawURL) > maxURLLen {
		return refuse("too long")
	}
	if strings.Contains(rawURL, "#") {
		return refuse("it has a fragment")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return refuse("it does not parse")
	}
	switch {
	case u.Opaque != "" || u.Scheme == "" || u.Host == "":
		return refuse("it is not an absolute http(s) URL")
	case u.User != nil:
		return refuse("it has user info")
	case u.Scheme != o.Scheme:
		return refuse("wrong scheme")
	case u.Host != o.Host:
		return refuse("wrong host or port")
	}
	p := u.EscapedPath()
	if strings.Contains(p, "%") || u.RawPath != "" {
		return refuse("its path has percent escapes")
	}
	key, ok := strings.CutPrefix(p, o.Prefix)
	if !ok {
		return refuse("its path is outside the store")
	}
	if err := ValidKey(key); err != nil {
		return refuse("its key is not clean")
	}
	return key, nil
}
