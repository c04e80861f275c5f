package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/secretbox"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	// 0xfb 0xff in the key puts '+' '/' in standard base64 and '-' '_' in URL base64.
	key := bytes.Repeat([]byte{0xfb, 0xff, 0x01, 0x7e}, 8)
	for _, tt := range []struct{ name, in string }{
		{"std", base64.StdEncoding.EncodeToString(key)},
		{"std raw", base64.RawStdEncoding.EncodeToString(key)},
		{"url", base64.URLEncoding.EncodeToString(key)},
		{"url raw", base64.RawURLEncoding.EncodeToString(key)},
		{"hex", hex.EncodeToString(key)},
		{"HEX", strings.ToUpper(hex.EncodeToString(key))},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(key) + "\n"},
	} {
		got, err := secretbox.ParseKey(tt.in)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%s %q) = %x, %v; want %x", tt.name, tt.in, got, err, key)
		}
	}

	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "  ", "empty"},
		{"16 bytes", short, "decodes to 16 bytes, want 32"},
		{"31 bytes hex", hex.EncodeToString(make([]byte, 31)), "want 32"},
		{"garbage", "not a key!", "neither base64 nor 64 hex digits"},
		{"64 non-hex", strings.Repeat("g", 64), "decodes to 48 bytes"},
	} {
		_, err := secretbox.ParseKey(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseKey(%s): got %v, want an error containing %q", tt.name, err, tt.want)
		}
		if err != nil && strings.TrimSpace(tt.in) != "" && strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParseKey(%s): error %q repeats the key", tt.name, err)
		}
	}
}

func TestLoadOrCreateKeyCreatesThenReloads(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "herald-data", "keys")
	path := filepath.Join(dir, "encryption.key")

	key, err := secretbox.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(key) != secretbox.KeySize {
		t.Fatalf("created a %d-byte key, want %d", len(key), secretbox.KeySize)
	}
	if runtime.GOOS != "windows" {
		requireMode(t, path, 0o600)
		requireMode(t, dir, 0o700)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read key file: %v", err)
	}
	if fromFile, err := secretbox.ParseKey(string(raw)); err != nil || !bytes.Equal(fromFile, key) {
		t.Errorf("key file holds %q, which ParseKey reads as %x, %v; want the returned key", raw, fromFile, err)
	}

	again, err := secretbox.LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !bytes.Equal(again, key) {
		t.Error("reload returned a different key")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (no temp files left)", len(entries))
	}
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestLoadOrCreateKeyConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "encryption.key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = secretbox.LoadOrCreateKey(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateKey %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("concurrent first starts got different keys; one would lose its sealed secrets")
		}
	}
}

func TestLoadOrCreateKeyRefusesBadFiles(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"
	tests := []struct {
		name     string
		contents string
		mode     os.FileMode
		want     string
	}{
		{"group readable", good, 0o640, "run: chmod 600 "},
		{"world readable", good, 0o644, "run: chmod 600 "},
		{"not a key", "hello\n", 0o600, "neither base64 nor 64 hex digits"},
		{"short key", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "want 32"},
		{"empty", "", 0o600, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" && tt.mode != 0o600 {
				t.Skip("no mode bits on Windows")
			}
			path := filepath.Join(t.TempDir(), "encryption.key")
			if err := os.WriteFile(path, []byte(tt.contents), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // WriteFile's mode is filtered by the umask
				t.Fatal(err)
			}
			_, err := secretbox.LoadOrCreateKey(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(tt.want, "chmod") && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should name the file to chmod", err)
			}
			if raw, _ := os.ReadFile(path); string(raw) != tt.contents { // a read error shows as a mismatch
				t.Error("LoadOrCreateKey changed an existing key file")
			}
		})
	}
}
