package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
)

// Header names Herald signs with, the receiver library's own. Go sends them in canonical
// form (X-Infraaudit-Signature, Webhook-Id); HTTP header names are case-insensitive, and
// http.Header.Get finds them under these spellings too.
const (
	HeaderInfraAuditSignature     = webhook.HeaderInfraAuditSignature
	HeaderInfraAuditSignatureNext = webhook.HeaderInfraAuditSignatureNext
	HeaderFrugallySignature       = webhook.HeaderFrugallySignature
	HeaderFrugallySignatureNext   = webhook.HeaderFrugallySignatureNext
	HeaderWebhookID               = webhook.HeaderWebhookID
	HeaderWebhookTimestamp        = webhook.HeaderWebhookTimestamp
	HeaderWebhookSignature        = webhook.HeaderWebhookSignature
	// HeaderContentDigest carries the body's SHA-256 (RFC 9530), so a receiver whose
	// signature check fails can tell a changed body from a wrong secret.
	HeaderContentDigest = webhook.HeaderContentDigest
)

// Request is what to send for one attempt: the exact body and the headers (Content-Type,
// the format's signature headers, the webhook's custom headers). The dispatcher adds
// User-Agent.
type Request struct {
	Body   []byte
	Header http.Header
}

// Build renders one attempt of delivery deliveryID of ev to wh, signed at now.
//
// The body is the format's envelope with its keys in the documented order and ev.Data
// copied byte for byte. During a secret rotation's grace (wh.PreviousSecret set and now
// before wh.PreviousSecretExpiresAt) both secrets sign. Signatures are the receiver
// library's (package webhook), so both sides of the wire share one implementation, which
// the test vectors pin down.
//
// Build fails with an EINVALID *herald.Error when the webhook cannot be signed for (no
// secret, a standard secret that is not base64, an unknown format), when ev.Data is not
// JSON, or when a custom header is malformed. Reserved custom headers are skipped. Nil
// arguments are a caller's bug and get a plain error.
func Build(ev *herald.Event, wh *herald.Webhook, deliveryID string, now time.Time) (*Request, error) {
	if ev == nil || wh == nil {
		return nil, errors.New("wire: Build needs an event and a webhook") // a caller's bug
	}
	if wh.Secret == "" {
		return nil, herald.Errorf(herald.EINVALID, "webhook %s has no signing secret", wh.ID)
	}
	data := []byte(ev.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	if !json.Valid(data) {
		return nil, herald.Errorf(herald.EINVALID, "event %s: data is not valid JSON", ev.ID)
	}
	ts := ev.Timestamp.UTC().Truncate(time.Second).Format(time.RFC3339)

	h := make(http.Header, len(wh.Headers)+4)
	for _, name := range slices.Sorted(maps.Keys(wh.Headers)) { // sorted: same headers every attempt
		value := wh.Headers[name]
		// The API refuses reserved names; one stored before its name became reserved is
		// dropped here rather than failing every attempt.
		if ReservedHeader(name) {
			continue
		}
		if err := checkHeader(name, value); err != nil {
			return nil, err
		}
		h.Set(name, value)
	}
	h.Set("Content-Type", "application/json")

	var body []byte
	rotating := wh.PreviousSecret != "" && now.Before(wh.PreviousSecretExpiresAt)
	switch wh.Format {
	case herald.FormatInfraAudit:
		body = envelope(
			"event", ev.Type, "timestamp", ts, "webhook_id", wh.ID, "delivery_id", deliveryID,
		).data(data)
		signSHA256(h, HeaderInfraAuditSignature, HeaderInfraAuditSignatureNext, wh, rotating, body)
	case herald.FormatFrugally:
		body = envelope(
			"id", ev.ID, "type", ev.Type, "timestamp", ts, "team_id", ev.TenantID,
		).data(data)
		signSHA256(h, HeaderFrugallySignature, HeaderFrugallySignatureNext, wh, rotating, body)
	case herald.FormatStandard:
		body = envelope("type", ev.Type, "timestamp", ts).data(data)
		unix := now.Unix()
		sig, err := signStandard(wh.ID, wh.Secret, ev.ID, unix, body)
		if err != nil {
			return nil, err
		}
		if rotating {
			prev, err := signStandard(wh.ID, wh.PreviousSecret, ev.ID, unix, body)
			if err != nil {
				return nil, err
			}
			sig += " " + prev
		}
		h.Set(HeaderWebhookID, ev.ID)
		h.Set(HeaderWebhookTimestamp, strconv.FormatInt(unix, 10))
		h.Set(HeaderWebhookSignature, sig)
	default:
		return nil, herald.Errorf(herald.EINVALID, "webhook %s has unknown format %q", wh.ID, wh.Format)
	}
	h.Set(HeaderContentDigest, webhook.ContentDigest(body))
	return &Request{Body: body, Header: h}, nil
}

// signStandard signs one webhook-signature entry, v1 (HMAC) or v1a (ed25519) as the
// secret says.
func signStandard(webhookID, secret, id string, ts int64, body []byte) (string, error) {
	sig, err := webhook.SignStandard(secret, id, ts, body)
	if err != nil {
		return "", herald.Errorf(herald.EINVALID, "webhook %s cannot be signed for the standard format: %v", webhookID, err)
	}
	return sig, nil
}

// signSHA256 sets the signature headers of a sha256= format. Receivers compare the whole
// main header with their one secret, so during a rotation's grace the main header keeps
// the old secret and the new one goes in the -Next header.
func signSHA256(h http.Header, main, next string, wh *herald.Webhook, rotating bool, body []byte) {
	if rotating {
		h.Set(main, webhook.SignSHA256(wh.PreviousSecret, body))
		h.Set(next, webhook.SignSHA256(wh.Secret, body))
		return
	}
	h.Set(main, webhook.SignSHA256(wh.Secret, body))
}

// envelopeWriter writes a JSON object key by key. The body is built by hand rather than
// with encoding/json because json.Marshal compacts and HTML-escapes a json.RawMessage,
// and the contract is that data goes out exactly as it was published.
type envelopeWriter struct{ buf bytes.Buffer }

// envelope starts an object with string fields given as key, value pairs, in order.
func envelope(kv ...string) *envelopeWriter {
	w := &envelopeWriter{}
	w.buf.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		w.str(kv[i])
		w.buf.WriteByte(':')
		w.str(kv[i+1])
		w.buf.WriteByte(',')
	}
	return w
}

func (w *envelopeWriter) str(s string) {
	// Marshalling a string cannot fail; SetEscapeHTML(false) keeps "<" as "<" like the
	// rest of the body.
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)               // a string always encodes
	w.buf.Truncate(w.buf.Len() - 1) // drop the newline Encode appends
}

// data closes the object with "data": raw and returns the body.
func (w *envelopeWriter) data(raw []byte) []byte {
	w.buf.WriteString(`"data":`)
	w.buf.Write(raw)
	w.buf.WriteByte('}')
	return w.buf.Bytes()
}

// reserved are the headers Herald sets itself or that describe the connection or the
// body's encoding: a custom header may not change any of them.
var reserved = map[string]bool{
	"content-type":      true,
	"content-length":    true,
	"content-encoding":  true,
	"content-digest":    true,
	"transfer-encoding": true,
	"host":              true,
	"user-agent":        true,
	"connection":        true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"te":                true,
	"trailer":           true,
	"upgrade":           true,
	strings.ToLower(HeaderInfraAuditSignature):     true,
	strings.ToLower(HeaderInfraAuditSignatureNext): true,
	strings.ToLower(HeaderFrugallySignature):       true,
	strings.ToLower(HeaderFrugallySignatureNext):   true,
}

// ReservedHeader reports whether name (any case) is a header a webhook's custom headers
// may not set: Content-Type, Content-Length, Content-Digest, Host, User-Agent, the
// connection and encoding headers, every format's signature headers and anything starting
// webhook-.
func ReservedHeader(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	return reserved[n] || strings.HasPrefix(n, "webhook-")
}

// ValidateHeaders checks a webhook's custom headers at registration: every name an HTTP
// token and not reserved (ReservedHeader), every value free of control characters other
// than tab. It returns an EINVALID *herald.Error naming the first offending header.
func ValidateHeaders(headers map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		value := headers[name]
		if err := checkHeader(name, value); err != nil {
			return err
		}
		if ReservedHeader(name) {
			return herald.Errorf(herald.EINVALID, "header %s is set by Herald and cannot be overridden", name)
		}
	}
	return nil
}

// checkHeader refuses a header net/http would refuse to send, or that would split into two.
func checkHeader(name, value string) error {
	if !validHeaderName(name) {
		return herald.Errorf(herald.EINVALID, "header name %q is not a valid HTTP header name", name)
	}
	if !validHeaderValue(value) {
		return herald.Errorf(herald.EINVALID, "header %s has a value with control characters", name)
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s is a field value net/http will send: no control
// characters but tab (in particular no CR or LF, which would split the header).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// SignatureHeaders lists the headers that carry format f's signatures, in the documented
// spelling: the main and -Next headers of the sha256= formats, webhook-signature for
// standard (webhook-id and webhook-timestamp are signed, but are not signatures). Nil for
// an unknown format.
func SignatureHeaders(f herald.Format) []string {
	switch f {
	case herald.FormatInfraAudit:
		return []string{HeaderInfraAuditSignature, HeaderInfraAuditSignatureNext}
	case herald.FormatFrugally:
		return []string{HeaderFrugallySignature, HeaderFrugallySignatureNext}
	case herald.FormatStandard:
		return []string{HeaderWebhookSignature}
	}
	return nil
}
