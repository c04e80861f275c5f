package webhook

import (
	"net/http"
	"strings"
)

// Format is the wire dialect a webhook was registered with: its envelope and its
// signature headers.
type Format string

// The three formats Herald delivers in.
const (
	FormatInfraAudit Format = "infraaudit"
	FormatFrugally   Format = "frugally"
	FormatStandard   Format = "standard"
)

// formats lists every known format, in the order errors mention them.
var formats = []Format{FormatInfraAudit, FormatFrugally, FormatStandard}

// check returns an ErrUnknownFormat error unless f is one of the three formats.
func (f Format) check() error {
	switch f {
	case FormatInfraAudit, FormatFrugally, FormatStandard:
		return nil
	}
	return fail(ErrUnknownFormat, "unknown format %q: want %s, %s or %s", f, FormatInfraAudit, FormatFrugally, FormatStandard)
}

// Header names, in the documented spelling. HTTP header names are case-insensitive:
// Go's http.Header stores them canonicalised (X-Infraaudit-Signature, Webhook-Id), and
// this package finds them under any spelling.
const (
	HeaderInfraAuditSignature     = "X-InfraAudit-Signature"
	HeaderInfraAuditSignatureNext = "X-InfraAudit-Signature-Next"
	HeaderFrugallySignature       = "X-Frugally-Signature"
	HeaderFrugallySignatureNext   = "X-Frugally-Signature-Next"
	HeaderWebhookID               = "webhook-id"
	HeaderWebhookTimestamp        = "webhook-timestamp"
	HeaderWebhookSignature        = "webhook-signature"
	HeaderContentDigest           = "Content-Digest"
)

// signatureHeaders returns the headers that carry f's signatures: the main and -Next
// headers of the sha256= formats, webhook-signature for standard.
func signatureHeaders(f Format) []string {
	switch f {
	case FormatInfraAudit:
		return []string{HeaderInfraAuditSignature, HeaderInfraAuditSignatureNext}
	case FormatFrugally:
		return []string{HeaderFrugallySignature, HeaderFrugallySignatureNext}
	case FormatStandard:
		return []string{HeaderWebhookSignature}
	}
	return nil
}

// headerValues returns the values of header name in h. http.Header.Values finds names
// stored canonicalised, as net/http does; the fallback finds them in a header built by
// hand with another spelling (http.Header{"webhook-id": …}), as some platforms do.
func headerValues(h http.Header, name string) []string {
	if vs := h.Values(name); len(vs) > 0 {
		return vs
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}

// headerValue returns the first value of header name in h, or "".
func headerValue(h http.Header, name string) string {
	if vs := headerValues(h, name); len(vs) > 0 {
		return vs[0]
	}
	return ""
}
