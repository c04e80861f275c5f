// Package secretbox seals secrets at rest, so no webhook secret is ever on disk in
// plaintext: stores seal with a Box before writing and open with it after reading.
//
// A sealed secret is
//
//	version (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext and tag (len+16 bytes)
//
// The version byte names the format and, with it, the key: today only 1, AES-256-GCM
// under the one configured key, with the version byte authenticated as additional data
// so it cannot be swapped. Key rotation will add a version whose next bytes identify the
// key, and Open will pick the key by version; ciphertexts sealed now stay readable.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/heraldhq/herald"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// version1 is AES-256-GCM with a random 96-bit nonce under the Box's key.
const version1 byte = 1

// Overhead is how much longer a sealed secret is than its plaintext.
const Overhead = 1 + 12 + 16

// ErrOpen is returned by Open for every ciphertext it cannot open: wrong key, tampered,
// truncated or of an unknown version. It says no more, on purpose.
var ErrOpen = errors.New("secretbox: cannot open ciphertext (wrong key or tampered data)")

// Box seals and opens secrets with one AES-256-GCM key. It implements herald.Cipher and
// is safe for concurrent use.
type Box struct {
	aead cipher.AEAD // nonce-prefixing GCM: Seal adds a random nonce, Open reads it
}

var _ herald.Cipher = (*Box)(nil)

// New returns a Box sealing with key, which must be KeySize bytes.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	// A random nonce per message is safe for far more secrets than Herald will ever seal
	// under one key (the limit is about 2^32 messages).
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts and authenticates plaintext, returning version || nonce || sealed. Two
// seals of the same plaintext differ.
func (b *Box) Seal(plaintext []byte) ([]byte, error) {
	out := make([]byte, 1, Overhead+len(plaintext))
	out[0] = version1
	return b.aead.Seal(out, nil, plaintext, out[:1]), nil
}

// Open checks and decrypts a ciphertext made by Seal under the same key. Any change to
// it, a different key or an unknown version gives ErrOpen.
func (b *Box) Open(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < Overhead || ciphertext[0] != version1 {
		return nil, ErrOpen
	}
	plaintext, err := b.aead.Open(nil, nil, ciphertext[1:], ciphertext[:1])
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}
