package receivercode

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/heraldhq/herald"
)

// Language is a language a receiver is rendered in.
type Language string

// The languages receivers are rendered in.
const (
	Go     Language = "go"
	Python Language = "python"
	Node   Language = "node"
)

// Languages lists every Language, in the order the portal shows them.
var Languages = []Language{Go, Python, Node}

// Receiver is one rendered receiver.
type Receiver struct {
	Language Language
	// Label names the language for people: "Go", "Python", "Node.js".
	Label string
	// File is the file name the code is meant to be saved as.
	File string
	// Setup is the shell commands that prepare a directory for it, if any.
	Setup string
	// Run is the shell command that starts it, with WEBHOOK_SECRET set.
	Run string
	// Code is the receiver's source.
	Code string
}

// Guide is how to verify one webhook's requests: what a receiver checks, said once
// for people, and the receivers that check it.
type Guide struct {
	// Headers are the request headers a receiver reads to verify.
	Headers []string
	// Signature says what the signature is, and over what.
	Signature string
	// Key says how the key a receiver verifies with is made from what the portal
	// shows.
	Key string
	// Receivers are the ready-to-paste receivers, one per Language that can verify
	// the webhook's requests.
	Receivers []Receiver
}

// Webhook is what a receiver depends on: the webhook's format and signing.
type Webhook struct {
	Format  herald.Format
	Signing string // herald.SigningHMAC or herald.SigningEd25519; "" is HMAC
}

// params is what the templates are given.
type params struct {
	Format   herald.Format
	Ed25519  bool
	GoFormat string // the webhook package's name for the format's constant
	// Headers are the format's signature headers, the -Next one for a rotation's new
	// secret second (infraaudit, frugally).
	Headers []string
	// TypeField and KeyField are the envelope's fields for the event type and the
	// dedupe key; KeyField is "" for standard, whose key is the webhook-id header.
	TypeField, KeyField string
}

//go:embed templates
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"lower": strings.ToLower}).ParseFS(files, "templates/*.tmpl"))

// Render returns the guide for w, with its receivers, one per Language that can verify
// it: an ed25519 webhook's requests are verified in Go only, since Python's standard
// library has no ed25519 and the whpk_ key is not a form Node.js reads as given. It
// fails with EINVALID for an unknown format or signing.
func Render(w Webhook) (*Guide, error) {
	p := params{Format: w.Format}
	g := &Guide{}
	switch w.Signing {
	case "", herald.SigningHMAC:
	case herald.SigningEd25519:
		if w.Format != herald.FormatStandard {
			return nil, herald.Errorf(herald.EINVALID, "ed25519 signing is for the standard format only, not %s", w.Format)
		}
		p.Ed25519 = true
	default:
		return nil, herald.Errorf(herald.EINVALID, "unknown signing %q", w.Signing)
	}
	switch w.Format {
	case herald.FormatInfraAudit:
		p.GoFormat, p.TypeField, p.KeyField = "FormatInfraAudit", "event", "delivery_id"
		p.Headers = []string{"X-InfraAudit-Signature", "X-InfraAudit-Signature-Next"}
	case herald.FormatFrugally:
		p.GoFormat, p.TypeField, p.KeyField = "FormatFrugally", "type", "id"
		p.Headers = []string{"X-Frugally-Signature", "X-Frugally-Signature-Next"}
	case herald.FormatStandard:
		p.GoFormat, p.TypeField = "FormatStandard", "type"
		p.Headers = []string{"webhook-id", "webhook-timestamp", "webhook-signature"}
	default:
		return nil, herald.Errorf(herald.EINVALID, "unknown format %q", w.Format)
	}
	g.Headers = p.Headers
	switch {
	case p.Ed25519:
		g.Signature = "webhook-signature holds v1a,<base64>: an ed25519 signature of webhook-id.webhook-timestamp.body, " +
			"the raw body as sent. Refuse a webhook-timestamp more than 5 minutes from now."
		g.Key = "Verify with the webhook's public key, whpk_…, as shown. Herald keeps the private key."
	case w.Format == herald.FormatStandard:
		g.Signature = "webhook-signature holds v1,<base64>: HMAC-SHA256 of webhook-id.webhook-timestamp.body, " +
			"the raw body as sent; several, separated by spaces, during a rotation. Refuse a webhook-timestamp more than 5 minutes from now."
		g.Key = "The HMAC key is the bytes the base64 after whsec_ decodes to, not the string itself."
	default:
		g.Signature = p.Headers[0] + " holds sha256=<hex>: HMAC-SHA256 of the raw body as sent. During a rotation's grace " +
			p.Headers[1] + " holds the same made with the new secret."
		g.Key = "The HMAC key is the whole secret string, whsec_ included, used as it is: do not strip the prefix or decode it."
	}
	out := make([]Receiver, 0, len(Languages))
	for _, r := range []Receiver{
		{Language: Go, Label: "Go", File: "main.go",
			Setup: "go mod init receiver && go get github.com/heraldhq/herald/webhook", Run: "go run ."},
		{Language: Python, Label: "Python", File: "receiver.py", Run: "python3 receiver.py"},
		{Language: Node, Label: "Node.js", File: "receiver.mjs", Run: "node receiver.mjs"},
	} {
		if p.Ed25519 && r.Language != Go {
			continue
		}
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, string(r.Language)+".tmpl", p); err != nil {
			return nil, fmt.Errorf("render the %s receiver: %w", r.Label, err)
		}
		r.Code = b.String()
		out = append(out, r)
	}
	g.Receivers = out
	return g, nil
}
