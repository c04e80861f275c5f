package herald

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// SecretPrefix starts every secret Herald generates, and every secret of a standard
// webhook (the Standard Webhooks convention).
const SecretPrefix = "whsec_"

// SigningKeyPrefix starts an ed25519 private key (whsk_ and base64 of the 64-byte seed
// and public key): a standard webhook whose secret is one signs v1a, and its receivers
// verify with the public key, whpk_ and base64 of its 32 bytes.
const SigningKeyPrefix = "whsk_"

// PublicKeyPrefix starts an ed25519 public key.
const PublicKeyPrefix = "whpk_"

// How a webhook signs: HMAC-SHA256 under a shared secret, or ed25519 (standard only).
const (
	SigningHMAC    = "hmac-sha256"
	SigningEd25519 = "ed25519"
)

// NewSecret returns a new signing secret: 32 random bytes as whsec_<base64>.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidateSecret checks a caller-supplied secret for format f: a standard secret is
// whsec_<base64> of 24 to 64 bytes; any other is 16 to 256 printable ASCII characters;
// none starts with an ed25519 key's prefix, which would make it read as one.
func ValidateSecret(f Format, secret string) error {
	if strings.HasPrefix(secret, SigningKeyPrefix) || strings.HasPrefix(secret, PublicKeyPrefix) {
		return Errorf(EINVALID, "a secret may not start with whsk_ or whpk_, the prefixes of ed25519 keys: for ed25519 signing create the webhook with \"signing\": \"ed25519\"")
	}
	if f == FormatStandard {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
		if err != nil || !strings.HasPrefix(secret, SecretPrefix) {
			return Errorf(EINVALID, "a standard webhook's secret must be whsec_ followed by base64")
		}
		if len(key) < 24 || len(key) > 64 {
			return Errorf(EINVALID, "a standard webhook's secret must decode to 24 to 64 bytes, not %d", len(key))
		}
		return nil
	}
	if len(secret) < 16 || len(secret) > 256 {
		return Errorf(EINVALID, "secret must be 16 to 256 characters long")
	}
	for _, r := range secret {
		if r < 0x21 || r > 0x7e {
			return Errorf(EINVALID, "secret must be printable ASCII without spaces")
		}
	}
	return nil
}
