package webhook

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a standard request's webhook-timestamp may be from now
// when Verifier.Tolerance is 0, as the Standard Webhooks libraries do.
const DefaultTolerance = 5 * time.Minute

// maxSignatureEntries bounds the entries of webhook-signature Verify checks.
const maxSignatureEntries = 16

// DefaultMaxBody is the largest body VerifyRequest reads when Verifier.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Verifier checks that requests come from Herald, signed with one of Secrets in Format.
// Its fields are read, never written, by Verify: a Verifier is safe for concurrent use
// once set up.
type Verifier struct {
	// Format is the format the webhook was registered with.
	Format Format

	// Secrets are the secrets a signature may match: whsec_ secrets in any format and,
	// for standard, whpk_ ed25519 public keys. During a rotation, give both the old and
	// the new secret.
	Secrets []string

	// Tolerance bounds how far a standard request's webhook-timestamp may be from now,
	// in the past or the future, to refuse replays of old requests: 0 means
	// DefaultTolerance, a negative value disables the check. The other formats carry no
	// signed timestamp.
	Tolerance time.Duration

	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// MaxBody is the largest body VerifyRequest reads; 0 or less means DefaultMaxBody.
	MaxBody int64
}

// NewVerifier returns a Verifier of format for secrets. It fails with ErrUnknownFormat
// for an unknown format and ErrInvalidSecret if secrets is empty or one is malformed or
// of a kind format does not use (a whsk_ private key: give its PublicKey instead).
func NewVerifier(format Format, secrets ...string) (*Verifier, error) {
	v := &Verifier{Format: format, Secrets: secrets}
	if _, err := v.keys(); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks that body, with headers h, was signed by Herald with one of v.Secrets.
// It returns nil, or an error wrapping one of the package's sentinel errors.
//
// For infraaudit and frugally, the main signature header or its -Next header (sent during
// a rotation) must match one of the secrets. For standard, webhook-id and
// webhook-timestamp must be present, the timestamp within v.Tolerance of now (checked
// before any signature), and one entry of webhook-signature must match: v1 entries are
// checked against whsec_ secrets, v1a entries against whpk_ keys, other versions are
// ignored. Signatures are compared in constant time.
//
// body must be the raw bytes received: not parsed and re-serialised, not trimmed.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	keys, err := v.keys()
	if err != nil {
		return err
	}
	if err := v.checkPresent(h); err != nil {
		return err
	}
	if v.Format == FormatStandard {
		return v.verifyStandard(h, body, keys)
	}
	return v.verifySHA256(h, body, keys)
}

// VerifyRequest reads r's body, at most v.MaxBody bytes (ErrBodyTooLarge beyond),
// verifies it against r's headers as Verify does and returns it. It puts the body back
// in r.Body so that handlers after it can read it again. Besides Verify's errors, it
// returns the I/O error of a body that could not be read, wrapped.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	body, err := v.readBody(r)
	if err != nil {
		return nil, err
	}
	if err := v.Verify(r.Header, body); err != nil {
		return nil, err
	}
	return body, nil
}

// readBody reads r's body, at most v.MaxBody bytes, and puts it back in r.Body.
func (v *Verifier) readBody(r *http.Request) ([]byte, error) {
	limit := v.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if r.ContentLength > limit {
		return nil, fail(ErrBodyTooLarge, "the body is %d bytes, more than the %d allowed", r.ContentLength, limit)
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("webhook: read body: %w", err)
		}
	}
	if int64(len(body)) > limit {
		return nil, fail(ErrBodyTooLarge, "the body is more than the %d bytes allowed", limit)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// keys parses v.Secrets.
func (v *Verifier) keys() ([]key, error) {
	if err := v.Format.check(); err != nil {
		return nil, err
	}
	if len(v.Secrets) == 0 {
		return nil, fail(ErrInvalidSecret, "no secret configured")
	}
	keys := make([]key, len(v.Secrets))
	for i, s := range v.Secrets {
		k, problem := parseSecret(v.Format, s)
		if problem == "" && k.private != nil {
			problem = "a private key (whsk_) signs, it does not verify: give the verifier its public key (whpk_, see PublicKey)"
		}
		if problem != "" {
			return nil, fail(ErrInvalidSecret, "secret %d of %d: %s", i+1, len(v.Secrets), problem)
		}
		keys[i] = k
	}
	return keys, nil
}

// checkPresent returns ErrNoSignature, or ErrWrongFormat if the request carries another
// format's signature instead, unless h has a signature header of v.Format.
func (v *Verifier) checkPresent(h http.Header) error {
	mine := signatureHeaders(v.Format)
	for _, name := range mine {
		if len(headerValues(h, name)) > 0 {
			return nil
		}
	}
	for _, f := range formats {
		if f == v.Format {
			continue
		}
		for _, name := range signatureHeaders(f) {
			if len(headerValues(h, name)) > 0 {
				return fail(ErrWrongFormat, "no %s header, but a %s header: the request looks like the %s format, and this verifier is for %s",
					mine[0], name, f, v.Format)
			}
		}
	}
	return fail(ErrNoSignature, "no %s header", mine[0])
}

// verifySHA256 checks the sha256= headers of infraaudit and frugally.
func (v *Verifier) verifySHA256(h http.Header, body []byte, keys []key) error {
	names := signatureHeaders(v.Format)
	var sigs [][]byte
	var malformed []string
	for _, name := range names {
		for _, value := range headerValues(h, name) {
			hexSig, ok := strings.CutPrefix(strings.TrimSpace(value), "sha256=")
			sig, err := hex.DecodeString(hexSig)
			if !ok || err != nil || len(sig) != sha256.Size {
				malformed = append(malformed, name)
				continue
			}
			sigs = append(sigs, sig)
		}
	}
	if len(sigs) == 0 {
		return fail(ErrSignatureMismatch, "%s is not sha256=<64 hex digits>", strings.Join(malformed, " and "))
	}
	for _, k := range keys {
		want := hmacSHA256(k.hmac, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return mismatch(h, body)
}

// verifyStandard checks a standard request: webhook-id, webhook-timestamp within the
// tolerance, then the entries of webhook-signature.
func (v *Verifier) verifyStandard(h http.Header, body []byte, keys []key) error {
	id := headerValue(h, HeaderWebhookID)
	if id == "" {
		return fail(ErrMissingHeader, "no %s header", HeaderWebhookID)
	}
	tsHeader := headerValue(h, HeaderWebhookTimestamp)
	if tsHeader == "" {
		return fail(ErrMissingHeader, "no %s header", HeaderWebhookTimestamp)
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fail(ErrMissingHeader, "%s %q is not a number of Unix seconds", HeaderWebhookTimestamp, tsHeader)
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}

	entries := strings.Fields(strings.Join(headerValues(h, HeaderWebhookSignature), " "))
	if len(entries) > maxSignatureEntries {
		// Each entry costs a signature check over the whole body: a request with
		// thousands would cost the receiver seconds of CPU before it is refused.
		return fail(ErrSignatureMismatch, "%s has %d entries; a sender signs with at most a few keys, and more than %d are refused",
			HeaderWebhookSignature, len(entries), maxSignatureEntries)
	}
	msg := standardContent(id, ts, body)
	macs := make([][]byte, len(keys)) // each HMAC key's expected signature, computed once
	for i, k := range keys {
		if k.hmac != nil {
			macs[i] = hmacSHA256(k.hmac, msg)
		}
	}
	checked := false // whether some entry was of a version a key can check
	var versions []string
	for _, entry := range entries {
		version, b64, _ := strings.Cut(entry, ",")
		versions = append(versions, version)
		sig, err := base64.StdEncoding.DecodeString(b64)
		for i, k := range keys {
			switch {
			case version == "v1" && k.hmac != nil:
				checked = true
				if err == nil && hmac.Equal(sig, macs[i]) {
					return nil
				}
			case version == "v1a" && k.public != nil:
				checked = true
				if err == nil && ed25519.Verify(k.public, msg, sig) {
					return nil
				}
			}
		}
	}
	if !checked {
		return fail(ErrSignatureMismatch, "%s has no entry the configured secrets can check (v1 for whsec_ secrets, v1a for whpk_ keys); its entries are versions %q",
			HeaderWebhookSignature, versions)
	}
	return mismatch(h, body)
}

// checkTimestamp refuses a webhook-timestamp further than the tolerance from now.
func (v *Verifier) checkTimestamp(ts int64) error {
	tolerance := v.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance < 0 {
		return nil
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	age := now().Sub(time.Unix(ts, 0)) // saturates rather than overflows for absurd values
	switch {
	case age > tolerance:
		return fail(ErrTimestampOutOfTolerance, "%s is %s in the past, more than the %s tolerance", HeaderWebhookTimestamp, age.Round(time.Second), tolerance)
	case age < -tolerance:
		return fail(ErrTimestampOutOfTolerance, "%s is %s in the future, more than the %s tolerance", HeaderWebhookTimestamp, (-age).Round(time.Second), tolerance)
	}
	return nil
}

// mismatch explains a signature that matches no secret. The Content-Digest header, when
// present, tells a wrong secret from a changed body; without it, the body's shape may
// hint at a framework that re-serialised it.
func mismatch(h http.Header, body []byte) error {
	digest, ok := sha256Digest(headerValues(h, HeaderContentDigest))
	switch {
	case !ok:
		return fail(ErrSignatureMismatch, "signature does not match: wrong secret, or the body was changed after it was sent%s", bodyHint(body))
	case hmac.Equal(digest, sha256Sum(body)):
		return fail(ErrWrongSecret, "signature does not match, but the body matches its %s header, so it is intact: the secret is wrong", HeaderContentDigest)
	}
	return fail(ErrBodyChanged, "signature does not match, and the body does not match its %s header: the body was changed after it was sent%s", HeaderContentDigest, bodyHint(body))
}

// bodyHint says what may have changed body, or "".
func bodyHint(body []byte) string {
	if len(body) == 0 {
		return " (the body is empty: was it read before verifying?)"
	}
	if len(bytes.TrimSpace(body)) != len(body) {
		return " (the body has leading or trailing whitespace, which Herald never sends: verify the raw bytes received)"
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil && !bytes.Equal(compact.Bytes(), body) {
		return " (the body is not compact JSON as Herald sends it: was it re-serialised? verify the raw bytes received)"
	}
	return ""
}

// sha256Digest returns the sha-256 member of Content-Digest header values, an RFC 8941
// dictionary such as "sha-256=:<base64>:, sha-512=:<base64>:". Other algorithms and
// parameters are ignored; ok is false when there is no well-formed sha-256 member.
func sha256Digest(values []string) (digest []byte, ok bool) {
	for _, member := range strings.Split(strings.Join(values, ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(member), "=")
		if !strings.EqualFold(name, "sha-256") {
			continue
		}
		value, _, _ = strings.Cut(value, ";") // drop parameters
		inner, found := strings.CutPrefix(strings.TrimSpace(value), ":")
		inner, closed := strings.CutSuffix(inner, ":")
		d, err := base64.StdEncoding.DecodeString(inner)
		if !found || !closed || err != nil || len(d) != sha256.Size {
			continue
		}
		digest, ok = d, true // the last member of a name wins, as RFC 8941 says
	}
	return digest, ok
}

// sha256Sum returns the SHA-256 of b.
func sha256Sum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}
