package secretbox_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"

	"github.com/heraldhq/herald/secretbox"
)

// sealV1 seals plaintext the way Herald did before key rotation existed (version 1:
// version byte, nonce, ciphertext, no key id), so the tests prove such values still open.
func sealV1(t *testing.T, key, plaintext []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal([]byte{1}, nil, plaintext, []byte{1})
}

func TestRingSealsWithPrimaryOpensWithAny(t *testing.T) {
	t.Parallel()
	oldKey, newK, otherKey := newKey(t), newKey(t), newKey(t)
	oldBox := newBox(t, oldKey)
	ring, err := secretbox.New(newK, oldKey)
	if err != nil {
		t.Fatalf("New ring: %v", err)
	}
	newOnly := newBox(t, newK)

	underOld, err := oldBox.Seal([]byte("old secret"))
	if err != nil {
		t.Fatal(err)
	}
	v1 := sealV1(t, oldKey, []byte("v1 secret"))
	for _, tt := range []struct {
		name   string
		sealed []byte
		want   string
	}{
		{"version 2 under the previous key", underOld, "old secret"},
		{"version 1 under the previous key", v1, "v1 secret"},
	} {
		got, err := ring.Open(tt.sealed)
		if err != nil || string(got) != tt.want {
			t.Errorf("ring opens %s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
		if ring.Current(tt.sealed) {
			t.Errorf("ring says %s is current; it must be re-sealed", tt.name)
		}
		if _, err := newOnly.Open(tt.sealed); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("a box with only the new key opens %s: %v; want ErrOpen", tt.name, err)
		}
	}

	resealed, err := ring.Seal([]byte("old secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !ring.Current(resealed) {
		t.Error("a value the ring just sealed is not current")
	}
	if got, err := newOnly.Open(resealed); err != nil || string(got) != "old secret" {
		t.Errorf("the new key alone opens the re-sealed value: %q, %v", got, err)
	}
	if _, err := oldBox.Open(resealed); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("the old key opens a value sealed under the new one: %v", err)
	}
	if _, err := ring.Open(mustSeal(t, newBox(t, otherKey), "x")); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("ring opens a value under a key it does not hold: %v", err)
	}
}

func mustSeal(t *testing.T, b *secretbox.Box, plain string) []byte {
	t.Helper()
	sealed, err := b.Seal([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func TestSealedValueNamesItsKey(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	sealed := mustSeal(t, newBox(t, k), "s")
	id := secretbox.KeyID(k)
	if sealed[0] != 2 || !bytes.Equal(sealed[1:5], id[:]) {
		t.Fatalf("sealed header %x, want version 2 and key id %x", sealed[:5], id)
	}
	// Swapping the key id for another key's must not open, even under a ring holding
	// that other key: the id is authenticated.
	other := newKey(t)
	ring, err := secretbox.New(other, k)
	if err != nil {
		t.Fatal(err)
	}
	otherID := secretbox.KeyID(other)
	swapped := bytes.Clone(sealed)
	copy(swapped[1:5], otherID[:])
	if _, err := ring.Open(swapped); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open with the key id swapped: %v, want ErrOpen", err)
	}
	// Relabelled as version 1 it must not open either: the version is authenticated.
	relabelled := append([]byte{1}, sealed[5:]...)
	if _, err := ring.Open(relabelled); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open relabelled as version 1: %v, want ErrOpen", err)
	}
}

func TestVersion1StillOpens(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	v1 := sealV1(t, k, []byte("whsec_from_before"))
	got, err := newBox(t, k).Open(v1)
	if err != nil || string(got) != "whsec_from_before" {
		t.Fatalf("Open(version 1) = %q, %v", got, err)
	}
	if newBox(t, k).Current(v1) {
		t.Error("a version 1 value is current; rotation would never upgrade it")
	}
	tampered := bytes.Clone(v1)
	tampered[len(tampered)-1] ^= 1
	if _, err := newBox(t, k).Open(tampered); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open(tampered version 1): %v, want ErrOpen", err)
	}
}

func TestNewRingRefusesBadKeysAndDropsRepeats(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	if _, err := secretbox.New(k, make([]byte, 16)); err == nil || !bytes.Contains([]byte(err.Error()), []byte("previous key 1")) {
		t.Errorf("New with a 16-byte previous key: %v, want an error naming previous key 1", err)
	}
	ring, err := secretbox.New(k, k, newKey(t), k)
	if err != nil {
		t.Fatal(err)
	}
	if ring.Keys() != 2 {
		t.Errorf("ring of a key, itself twice and one other holds %d keys, want 2", ring.Keys())
	}
}

func FuzzOpen(f *testing.F) {
	k := bytes.Repeat([]byte{7}, secretbox.KeySize)
	box, err := secretbox.New(k, bytes.Repeat([]byte{9}, secretbox.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	sealed, _ := box.Seal([]byte("seed"))
	f.Add(sealed)
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, c []byte) {
		plain, err := box.Open(c) // must never panic
		if err == nil {
			if again, err := box.Open(c); err != nil || !bytes.Equal(plain, again) {
				t.Fatalf("Open is not deterministic")
			}
		}
		_ = box.Current(c)
	})
}
