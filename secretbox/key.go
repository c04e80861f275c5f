package secretbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ParseKey decodes a key given as --encryption-key: KeySize bytes as hex (64 digits) or
// base64, standard or URL alphabet, padded or not; surrounding space is ignored. The
// error never repeats the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("encryption key is empty; generate one with: openssl rand -base64 32")
	}
	if len(s) == 2*KeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("encryption key decodes to %d bytes, want %d; generate one with: openssl rand -base64 32", len(key), KeySize)
		}
		return key, nil
	}
	return nil, fmt.Errorf("encryption key is neither base64 nor 64 hex digits; generate one with: openssl rand -base64 32")
}

// LoadOrCreateKey returns the key in the file at path, creating the file with a new
// random key if there is none. A new file is written base64-encoded with mode 0600, in a
// directory created with mode 0700, and appears atomically and never over an existing
// file, so two processes starting at once end up with the same key. An existing key
// file that group or others can access is refused, with the chmod to run, because
// whoever reads it can open every stored secret.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKey(path); err != nil {
		return nil, err
	}
	return loadKey(path)
}

// LoadKey returns the key in the file at path, refusing, like LoadOrCreateKey, a file
// that group or others can access; unlike it, it never creates one. A missing file is
// an error that wraps fs.ErrNotExist.
func LoadKey(path string) ([]byte, error) {
	key, err := loadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	return key, err
}

func loadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	defer f.Close() // read-only: nothing to lose on close
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	// Windows has no mode bits to check; its ACLs are the administrator's business.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("encryption key file %s has mode %04o, so group or others can read it; run: chmod 600 %s", path, perm, path)
	}
	// A key file is under 100 bytes; reading at most 1 KiB keeps a wrong path from
	// loading a huge file, and ParseKey refuses what was cut short.
	buf, err := io.ReadAll(io.LimitReader(f, 1<<10))
	if err != nil {
		return nil, fmt.Errorf("read encryption key %s: %w", path, err)
	}
	key, err := ParseKey(string(buf))
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return key, nil
}

// createKey writes a new key to path unless a file is already there: a temp file in the
// same directory, synced, then hard-linked into place (a link, unlike a rename, fails
// when path exists, so a key another process just created is never replaced), and the
// directory synced.
func createKey(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create encryption key directory: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("create encryption key: %w", err)
	}

	tmp, err := os.CreateTemp(dir, ".encryption-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create encryption key: %w", err)
	}
	defer func() {
		// The temp name is only a staging name: once linked (or on failure) it goes.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("create encryption key: %w", rmErr)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		_ = tmp.Close() // the chmod error is the one to report
		return fmt.Errorf("create encryption key: %w", err)
	}
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("create encryption key: %w", err)
	}

	switch err := os.Link(tmp.Name(), path); {
	case errors.Is(err, fs.ErrExist):
		return nil // another process won the race; use its key
	case err != nil:
		// A file system without hard links: rename, which replaces a file created since
		// the check in LoadOrCreateKey; only a simultaneous first start can hit that.
		if _, statErr := os.Lstat(path); statErr == nil {
			return nil
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("create encryption key %s: %w", path, err)
		}
	}
	return syncDir(dir)
}

// syncDir makes the new directory entry durable, so a crash right after start cannot
// lose the key that secrets are already sealed with.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there; NTFS journals the entry
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync encryption key directory: %w", err)
	}
	defer d.Close() // read-only handle
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync encryption key directory: %w", err)
	}
	return nil
}
