package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"testing"

	"github.com/heraldhq/herald/secretbox"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatalf("rand: %v", err)
	}
	return key
}

func newBox(t *testing.T, key []byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(key)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	box := newBox(t, newKey(t))
	for _, plain := range [][]byte{
		nil,
		[]byte("x"),
		[]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		bytes.Repeat([]byte{0, 0xff}, 4096),
	} {
		sealed, err := box.Seal(plain)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if len(sealed) != len(plain)+secretbox.Overhead {
			t.Errorf("sealed %d bytes into %d, want %d", len(plain), len(sealed), len(plain)+secretbox.Overhead)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Error("ciphertext contains the plaintext")
		}
		got, err := box.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open(Seal(%q)) = %q", plain, got)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	t.Parallel()
	box := newBox(t, newKey(t))
	a, errA := box.Seal([]byte("same secret"))
	b, errB := box.Seal([]byte("same secret"))
	if errA != nil || errB != nil {
		t.Fatalf("Seal: %v, %v", errA, errB)
	}
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal; the nonce must be random")
	}
	if a[0] != 2 || b[0] != 2 {
		t.Errorf("version bytes %d, %d, want 2", a[0], b[0])
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	t.Parallel()
	box := newBox(t, newKey(t))
	sealed, err := box.Seal([]byte("whsec_secret-value"))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	// Flip one bit in every byte in turn: version, nonce, ciphertext and tag.
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		if _, err := box.Open(tampered); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("Open with byte %d flipped: got %v, want ErrOpen", i, err)
		}
	}
	for _, c := range [][]byte{nil, {}, {1}, sealed[:secretbox.Overhead-1], sealed[:len(sealed)-1], append(bytes.Clone(sealed), 0)} {
		if _, err := box.Open(c); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("Open(%d bytes): got %v, want ErrOpen", len(c), err)
		}
	}
}

func TestOpenRefusesWrongKey(t *testing.T) {
	t.Parallel()
	sealed, err := newBox(t, newKey(t)).Seal([]byte("secret"))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if got, err := newBox(t, newKey(t)).Open(sealed); !errors.Is(err, secretbox.ErrOpen) || got != nil {
		t.Errorf("Open under another key: got %q, %v, want ErrOpen", got, err)
	}
}

func TestNewRefusesBadKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := secretbox.New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte key: got no error", n)
		}
	}
}

func ExampleBox() {
	key, err := secretbox.ParseKey("q3BaRwKTVYpd8AwGSwdxZq0yoIbNDjSp2kfkDp9OkqE=") // as given to --encryption-key
	if err != nil {
		log.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		log.Fatal(err)
	}
	sealed, err := box.Seal([]byte("whsec_example"))
	if err != nil {
		log.Fatal(err)
	}
	plain, err := box.Open(sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(plain))
	// Output: whsec_example
}
