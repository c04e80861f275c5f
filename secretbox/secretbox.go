// Package secretbox seals secrets at rest, so no webhook secret is ever on disk in
// plaintext: stores seal with a Box before writing and open with it after reading.
//
// A Box holds a key ring: one primary key, which seals, and any number of previous
// keys, which only open. That is what rotating the encryption key needs: while values
// sealed under the old key are re-sealed under the new one, both must open.
//
// A sealed secret is
//
//	2 (1 byte) || key id (4 bytes) || nonce (12 bytes) || AES-256-GCM ciphertext and tag (len+16 bytes)
//
// where the key id is the first 4 bytes of SHA-256 over a fixed label and the key, so
// Open picks the key in one look instead of trying every key of the ring, and the id
// tells nothing about the key. Version and key id are authenticated as additional data,
// so neither can be swapped.
//
// Version 1, written before key rotation existed, is
//
//	1 (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext and tag
//
// with the version byte as additional data. Open still reads it, trying each key of the
// ring in turn (it names none); Seal never writes it.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/heraldhq/herald"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// The formats of a sealed secret; see the package comment.
const (
	version1 byte = 1 // AES-256-GCM, random 96-bit nonce, no key id
	version2 byte = 2 // the same with the sealing key's id
)

// keyIDSize is how many bytes of a key's fingerprint name it in a sealed secret.
const keyIDSize = 4

// nonceSize and tagSize are GCM's.
const (
	nonceSize = 12
	tagSize   = 16
)

// Overhead is how much longer a sealed secret is than its plaintext.
const Overhead = 1 + keyIDSize + nonceSize + tagSize

// overheadV1 is the overhead of a version 1 secret.
const overheadV1 = 1 + nonceSize + tagSize

// ErrOpen is returned by Open for every ciphertext it cannot open: wrong key, tampered,
// truncated or of an unknown version. It says no more, on purpose.
var ErrOpen = errors.New("secretbox: cannot open ciphertext (wrong key or tampered data)")

// key is one AES-256-GCM key of a ring with its id.
type key struct {
	id   [keyIDSize]byte
	aead cipher.AEAD // nonce-prefixing GCM: Seal adds a random nonce, Open reads it
}

// Box seals with its primary key and opens with any key of its ring. It implements
// herald.Cipher and herald.Resealer and is safe for concurrent use.
type Box struct {
	keys []key // keys[0] is the primary
}

var (
	_ herald.Cipher   = (*Box)(nil)
	_ herald.Resealer = (*Box)(nil)
)

// New returns a Box sealing with primary and opening with primary or any of previous.
// Every key must be KeySize bytes. A previous key equal to the primary, or repeated, is
// dropped: it would only be tried twice.
func New(primary []byte, previous ...[]byte) (*Box, error) {
	b := &Box{}
	for i, k := range append([][]byte{primary}, previous...) {
		if len(k) != KeySize {
			what := "key"
			if i > 0 {
				what = fmt.Sprintf("previous key %d", i)
			}
			return nil, fmt.Errorf("secretbox: %s must be %d bytes, not %d", what, KeySize, len(k))
		}
		k, err := newKey(k)
		if err != nil {
			return nil, err
		}
		if !b.has(k.id) {
			b.keys = append(b.keys, k)
		}
	}
	return b, nil
}

func newKey(k []byte) (key, error) {
	block, err := aes.NewCipher(k)
	if err != nil {
		return key{}, fmt.Errorf("secretbox: %w", err)
	}
	// A random nonce per message is safe for far more secrets than Herald will ever seal
	// under one key (the limit is about 2^32 messages).
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return key{}, fmt.Errorf("secretbox: %w", err)
	}
	return key{id: KeyID(k), aead: aead}, nil
}

// has reports whether the ring holds a key with this id. Two different keys sharing an
// id (a chance of one in 2^32 per pair) would both be kept and both tried by Open; the
// ring only ever drops a key that is a repeat of one it has.
func (b *Box) has(id [keyIDSize]byte) bool {
	for _, k := range b.keys {
		if k.id == id {
			return true
		}
	}
	return false
}

// KeyID is the id that names key in the secrets it seals: the first bytes of SHA-256
// over a label and the key. It is safe to show, and lets operators tell keys apart in
// logs without printing them.
func KeyID(k []byte) [keyIDSize]byte {
	sum := sha256.Sum256(append([]byte("herald secretbox key id\x00"), k...))
	return [keyIDSize]byte(sum[:keyIDSize])
}

// Keys returns how many distinct keys the ring holds, the primary included.
func (b *Box) Keys() int { return len(b.keys) }

// Seal encrypts and authenticates plaintext under the primary key, returning version 2
// || key id || nonce || sealed. Two seals of the same plaintext differ.
func (b *Box) Seal(plaintext []byte) ([]byte, error) {
	k := b.keys[0]
	out := make([]byte, 1+keyIDSize, Overhead+len(plaintext))
	out[0] = version2
	copy(out[1:], k.id[:])
	return k.aead.Seal(out, nil, plaintext, out[:1+keyIDSize]), nil
}

// Open checks and decrypts a ciphertext made by Seal under any key of the ring, or by
// an earlier Herald (version 1) under any of them. Any change to it, a key not in the
// ring or an unknown version gives ErrOpen.
func (b *Box) Open(ciphertext []byte) ([]byte, error) {
	plaintext, _, err := b.open(ciphertext)
	return plaintext, err
}

// open returns the plaintext and the index in the ring of the key that opened it.
func (b *Box) open(ciphertext []byte) ([]byte, int, error) {
	switch {
	case len(ciphertext) >= Overhead && ciphertext[0] == version2:
		header, sealed := ciphertext[:1+keyIDSize], ciphertext[1+keyIDSize:]
		for i, k := range b.keys {
			if !bytes.Equal(k.id[:], header[1:]) {
				continue
			}
			if plaintext, err := k.aead.Open(nil, nil, sealed, header); err == nil {
				return plaintext, i, nil
			}
		}
	case len(ciphertext) >= overheadV1 && ciphertext[0] == version1:
		// Version 1 names no key: each is tried, the primary first. A wrong key fails
		// the tag check after one block of work, so this costs microseconds per key.
		for i, k := range b.keys {
			if plaintext, err := k.aead.Open(nil, nil, ciphertext[1:], ciphertext[:1]); err == nil {
				return plaintext, i, nil
			}
		}
	}
	return nil, -1, ErrOpen
}

// Current reports whether ciphertext is sealed the way Seal seals now: version 2 under
// the primary key. Anything else (an older format, a previous key, or something no key
// opens) is not current. It only reads the header, so it is cheap; the tag is checked
// when the value is opened.
func (b *Box) Current(ciphertext []byte) bool {
	return len(ciphertext) >= Overhead && ciphertext[0] == version2 &&
		bytes.Equal(ciphertext[1:1+keyIDSize], b.keys[0].id[:])
}
