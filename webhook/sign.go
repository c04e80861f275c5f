package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Secret prefixes: whsec_ starts an HMAC secret (every format), whsk_ an ed25519
// private key and whpk_ an ed25519 public key (standard only).
const (
	SecretPrefix     = "whsec_"
	PrivateKeyPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// SignSHA256 returns the signature header value of the infraaudit and frugally formats:
// "sha256=" and the lowercase hex HMAC-SHA256 of body, the key being the whole secret
// string, whsec_ prefix included, as the InfraAudit and Frugally snippets do.
func SignSHA256(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(hmacSHA256([]byte(secret), body))
}

// SignStandard returns one Standard Webhooks signature of "<id>.<ts>.<body>", ts being
// the webhook-timestamp in Unix seconds. A whsec_ secret gives "v1,<base64 HMAC-SHA256>"
// under the base64-decoded bytes after whsec_; an ed25519 private key
// "whsk_<base64 of 64-byte seed‖public key>" gives "v1a,<base64 ed25519 signature>".
// A malformed secret, or a public key, is an ErrInvalidSecret.
func SignStandard(secret, id string, ts int64, body []byte) (string, error) {
	k, problem := parseSecret(FormatStandard, secret)
	if problem != "" {
		return "", fail(ErrInvalidSecret, "%s", problem)
	}
	msg := standardContent(id, ts, body)
	switch {
	case k.private != nil:
		return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(k.private, msg)), nil
	case k.public != nil:
		return "", fail(ErrInvalidSecret, "a public key (%s…) cannot sign: sign with its private key (%s…)", PublicKeyPrefix, PrivateKeyPrefix)
	}
	return "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(k.hmac, msg)), nil
}

// Sign returns the headers a Herald request of format carries for body: the signature
// header (for standard also webhook-id = id and webhook-timestamp = ts in Unix seconds)
// and Content-Digest. id is unused by infraaudit and frugally, whose ids are in the
// body. It fails with ErrUnknownFormat, ErrInvalidSecret, or ErrMissingHeader for a
// standard request without id.
//
// Sign signs with one secret; during a rotation the sender adds the second signature
// itself (a second webhook-signature entry, or the -Next header).
func Sign(format Format, secret, id string, ts time.Time, body []byte) (http.Header, error) {
	if err := format.check(); err != nil {
		return nil, err
	}
	h := make(http.Header, 4)
	switch format {
	case FormatInfraAudit, FormatFrugally:
		if _, problem := parseSecret(format, secret); problem != "" {
			return nil, fail(ErrInvalidSecret, "%s", problem)
		}
		h.Set(signatureHeaders(format)[0], SignSHA256(secret, body))
	case FormatStandard:
		if id == "" {
			return nil, fail(ErrMissingHeader, "a standard request needs an id for its %s header", HeaderWebhookID)
		}
		sig, err := SignStandard(secret, id, ts.Unix(), body)
		if err != nil {
			return nil, err
		}
		h.Set(HeaderWebhookID, id)
		h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderWebhookSignature, sig)
	}
	h.Set(HeaderContentDigest, ContentDigest(body))
	return h, nil
}

// ContentDigest returns the RFC 9530 Content-Digest header value of body:
// "sha-256=:<standard base64 of SHA-256(body)>:".
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// NewEd25519Key returns a new ed25519 key pair for the standard format: the private key
// "whsk_<base64 of 64-byte seed‖public key>", which signs, and the public key
// "whpk_<base64 of 32 bytes>", which the receiver verifies with.
func NewEd25519Key() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// PublicKey returns the whpk_ public key of a whsk_ private key, or an ErrInvalidSecret
// error if private is not one.
func PublicKey(private string) (string, error) {
	if !strings.HasPrefix(private, PrivateKeyPrefix) {
		return "", fail(ErrInvalidSecret, "a private key starts with %s", PrivateKeyPrefix)
	}
	k, problem := parseSecret(FormatStandard, private)
	if problem != "" {
		return "", fail(ErrInvalidSecret, "%s", problem)
	}
	pub := k.private.Public().(ed25519.PublicKey) // an ed25519.PrivateKey's public key is always one
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// key is a parsed secret: exactly one field is set.
type key struct {
	hmac    []byte             // HMAC-SHA256 key, any format
	public  ed25519.PublicKey  // whpk_, standard only
	private ed25519.PrivateKey // whsk_, standard only
}

// parseSecret parses secret for format f, or says what is wrong with it without
// quoting it. The rules are Herald's own: a secret Herald accepts for a webhook of f is
// accepted here, and one it refuses could never match.
//
// infraaudit and frugally sign with the secret string itself, 16 to 256 printable ASCII
// characters. standard signs with the base64-decoded bytes after whsec_ (the prefix is
// optional, as in the Standard Webhooks libraries), 24 to 64 of them, or with an ed25519
// key, whsk_ (private) or whpk_ (public).
func parseSecret(f Format, secret string) (key, string) {
	ed25519Key := strings.HasPrefix(secret, PrivateKeyPrefix) || strings.HasPrefix(secret, PublicKeyPrefix)
	if f != FormatStandard {
		if ed25519Key {
			return key{}, "ed25519 keys (whsk_, whpk_) are only used by the standard format, not " + string(f)
		}
		if len(secret) < 16 || len(secret) > 256 {
			return key{}, "a secret is 16 to 256 characters long, not " + strconv.Itoa(len(secret))
		}
		for _, r := range secret {
			if r < 0x21 || r > 0x7e {
				return key{}, "a secret is printable ASCII without spaces (look for a trailing newline)"
			}
		}
		return key{hmac: []byte(secret)}, ""
	}

	switch {
	case strings.HasPrefix(secret, PrivateKeyPrefix):
		b, err := base64.StdEncoding.DecodeString(secret[len(PrivateKeyPrefix):])
		if err != nil || len(b) != ed25519.PrivateKeySize {
			return key{}, "a private key is whsk_ followed by the base64 of 64 bytes (seed and public key)"
		}
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !hmac.Equal(priv, b) {
			return key{}, "the private key's last 32 bytes are not the public key of its seed"
		}
		return key{private: priv}, ""
	case strings.HasPrefix(secret, PublicKeyPrefix):
		b, err := base64.StdEncoding.DecodeString(secret[len(PublicKeyPrefix):])
		if err != nil || len(b) != ed25519.PublicKeySize {
			return key{}, "a public key is whpk_ followed by the base64 of 32 bytes"
		}
		return key{public: ed25519.PublicKey(b)}, ""
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return key{}, "a standard secret is whsec_ followed by base64"
	}
	if len(b) < 24 || len(b) > 64 {
		return key{}, "a standard secret decodes to 24 to 64 bytes, not " + strconv.Itoa(len(b))
	}
	return key{hmac: b}, ""
}

// standardContent returns what a standard signature signs: "<id>.<ts>.<body>".
func standardContent(id string, ts int64, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(body)+22)
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = strconv.AppendInt(msg, ts, 10)
	msg = append(msg, '.')
	return append(msg, body...)
}

// hmacSHA256 returns the HMAC-SHA256 of msg under k.
func hmacSHA256(k, msg []byte) []byte {
	mac := hmac.New(sha256.New, k)
	mac.Write(msg)
	return mac.Sum(nil)
}
