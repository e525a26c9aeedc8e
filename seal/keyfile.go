package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/idv-dev/idv"
)

// The key file keeps the master keys of a LocalKeyRing across restarts of
// `idv dev` and between local processes. It is JSON:
//
//	{
//	  "current": "k20260101T120000Z-1a2b3c4d",
//	  "keys": [
//	    {"id": "k20260101T120000Z-1a2b3c4d", "key": "<base64, 32 bytes>", "created": "2026-01-01T12:00:00Z"}
//	  ]
//	}
//
// Keys are only ever added (RotateKeyFile), never removed by this package, so
// values sealed before a rotation still open.

// maxKeyFileSize bounds what LoadKeyFile reads: a ring of thousands
// of keys fits, a wrong path pointing at a large file does not.
const maxKeyFileSize = 1 << 20

type keyFile struct {
	Current string         `json:"current"`
	Keys    []keyFileEntry `json:"keys"`
}

type keyFileEntry struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
}

// LoadKeyFile returns the key ring stored at path. A missing file is an
// idv.ENOTFOUND error matching fs.ErrNotExist: a production process must
// not make itself a key nobody else has (a worker with a mistyped path
// would then discard every job as unreadable). It refuses a file that group
// or others may read or write, or that is malformed, with an error naming
// path.
func LoadKeyFile(path string) (*LocalKeyRing, error) {
	kf, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return kf.ring(path)
}

// LoadOrCreateKeyFile is LoadKeyFile, but on first run (no file) it creates
// the file with one random key, mode 0600, creating missing parent
// directories with mode 0700: for `idv dev` and `idv keys init`, the only
// ones that create a key file. Concurrent first runs agree on one file.
func LoadOrCreateKeyFile(path string) (*LocalKeyRing, error) {
	kf, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kf, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return kf.ring(path)
}

// RotateKeyFile adds a new random key to the key file at path and makes it
// current; it returns the new key's id. Old keys stay, so values sealed
// under them still open. Processes that loaded the file before the rotation
// keep sealing with the old key, and cannot open values sealed with the new
// one, until they reload it: restart them after rotating.
//
// Two rotations at once would lose a key, so RotateKeyFile holds path+".lock"
// while it works; if a crash left that file behind, remove it.
func RotateKeyFile(path string) (newID string, err error) {
	lockPath := path + ".lock"
	lock, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", idv.Errorf(idv.ECONFLICT, "key file %s is being rotated (remove %s if no rotation is running)", path, lockPath)
		}
		return "", keyFileError(path, "cannot lock for rotation", err)
	}
	lock.Close()
	defer os.Remove(lockPath)

	kf, err := readKeyFile(path)
	if err != nil {
		return "", err
	}
	if _, err := kf.ring(path); err != nil {
		return "", err
	}
	entry := newKeyFileEntry(time.Now())
	for _, e := range kf.Keys {
		if e.ID == entry.ID {
			return "", idv.Errorf(idv.ECONFLICT, "key file %s: new key id %s already exists, try again", path, entry.ID)
		}
	}
	kf.Keys = append(kf.Keys, entry)
	kf.Current = entry.ID
	if err := writeKeyFile(path, kf, true); err != nil {
		return "", err
	}
	return entry.ID, nil
}

// readKeyFile reads and decodes path after checking that only its owner can
// read it. A missing file is an idv.ENOTFOUND error matching fs.ErrNotExist.
func readKeyFile(path string) (*keyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, idv.WrapError(idv.ENOTFOUND, fmt.Sprintf("key file %s does not exist", path), err)
		}
		return nil, keyFileError(path, "cannot open", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return nil, keyFileError(path, "cannot stat", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, idv.Errorf(idv.EINVALID, "key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, idv.Errorf(idv.EINVALID, "key file %s has mode %#o: group and others must have no access (chmod 600 %s)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, keyFileError(path, "cannot read", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, idv.Errorf(idv.EINVALID, "key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		// A syntax error's text quotes the offending character, which
		// could be key material: give only its position.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: invalid JSON at byte %d", path, syn.Offset)
		}
		return nil, idv.WrapError(idv.EINVALID, fmt.Sprintf("key file %s is malformed", path), err)
	}
	if dec.More() {
		return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: data after the JSON object", path)
	}
	return &kf, nil
}

// ring checks kf and builds its key ring; path is for error messages.
func (kf *keyFile) ring(path string) (*LocalKeyRing, error) {
	if len(kf.Keys) == 0 {
		return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: no keys", path)
	}
	keys := make(map[string][]byte, len(kf.Keys))
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	for i, e := range kf.Keys {
		if !validKeyID(e.ID) {
			return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: key %d has an id that is not 1 to %d printable ASCII characters", path, i, MaxKeyIDLen)
		}
		if _, dup := keys[e.ID]; dup {
			return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: key id %s appears twice", path, e.ID)
		}
		key, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(key) != MasterKeySize {
			return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: key %s is not %d bytes of standard base64", path, e.ID, MasterKeySize)
		}
		keys[e.ID] = key
	}
	if _, ok := keys[kf.Current]; !ok {
		return nil, idv.Errorf(idv.EINVALID, "key file %s is malformed: current key %q is not among its keys", path, kf.Current)
	}
	r, err := NewLocalKeyRing(keys, kf.Current)
	if err != nil {
		return nil, idv.WrapError(idv.EINVALID, fmt.Sprintf("key file %s is malformed", path), err)
	}
	return r, nil
}

// createKeyFile writes a new key file with one key. If another process
// created the file meanwhile, it reads that one instead.
func createKeyFile(path string) (*keyFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, keyFileError(path, "cannot create its directory", err)
	}
	entry := newKeyFileEntry(time.Now())
	kf := &keyFile{Current: entry.ID, Keys: []keyFileEntry{entry}}
	if err := writeKeyFile(path, kf, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, err
	}
	return kf, nil
}

// writeKeyFile writes kf to a temporary 0600 file next to path, then moves
// it into place, so a reader never sees a half-written file. With replace
// false it fails with fs.ErrExist instead of replacing an existing file.
func writeKeyFile(path string, kf *keyFile, replace bool) error {
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return keyFileError(path, "cannot encode", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".idv-keys-*.tmp") // mode 0600
	if err != nil {
		return keyFileError(path, "cannot create a temporary file", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return keyFileError(path, "cannot write", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return keyFileError(path, "cannot write", err)
	}
	if err := tmp.Close(); err != nil {
		return keyFileError(path, "cannot write", err)
	}
	if replace {
		err = os.Rename(tmpPath, path)
	} else {
		// A hard link fails if path exists, where a rename would replace it.
		err = os.Link(tmpPath, path)
		if errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err != nil {
		return keyFileError(path, "cannot write", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename or link in dir durable; best effort, since not
// every file system supports syncing a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// newKeyFileEntry returns a random master key with an id that sorts by
// creation time and a random suffix so two rotations in one second differ.
func newKeyFileEntry(now time.Time) keyFileEntry {
	key := make([]byte, MasterKeySize)
	_, _ = rand.Read(key) // never fails, see GenerateDataKey
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	now = now.UTC().Truncate(time.Second)
	return keyFileEntry{
		ID:      "k" + now.Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix),
		Key:     base64.StdEncoding.EncodeToString(key),
		Created: now,
	}
}

func keyFileError(path, what string, err error) error {
	return idv.WrapError(idv.EINTERNAL, fmt.Sprintf("key file %s: %s", path, what), err)
}
