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

// Render returns the receivers for w, one per Language that can verify it: an
// ed25519 webhook's requests are verified in Go only, since neither Python's nor
// Node.js's standard library reads its whpk_ key as given. It fails for an unknown
// format or signing.
func Render(w Webhook) ([]Receiver, error) {
	p := params{Format: w.Format}
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
	return out, nil
}
