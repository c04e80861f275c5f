package notice

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/heraldhq/herald"
)

// Mail is the SMTP server notices are emailed through and the address they come from.
// Create it with ParseMail.
type Mail struct {
	// From is the sender, as given (an address, or a name and an address).
	From string
	// Timeout bounds one email's whole conversation with the server; default 30s.
	Timeout time.Duration

	host, port string
	user, pass string
	from       *mail.Address
}

// ParseMail returns the Mail for an smtp://[user:password@]host[:port] URL (port 587 by
// default) and a From address. With credentials in the URL the server must offer AUTH
// PLAIN, and STARTTLS unless it is on localhost: net/smtp will not send a password in
// the clear to anyone else.
func ParseMail(rawURL, from string) (*Mail, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not the url.Error itself: it quotes the URL, password and all, into the log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("SMTP URL: %v", err)
	}
	if u.Scheme != "smtp" || u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("SMTP URL: want smtp://[user:password@]host[:port]")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("SMTP URL: want smtp://[user:password@]host[:port], without a path or query")
	}
	if from == "" {
		return nil, errors.New("emailing notices needs a From address (--smtp-from)")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("From address %q: %w", from, err)
	}
	m := &Mail{From: from, host: u.Hostname(), port: u.Port(), from: addr}
	if m.port == "" {
		m.port = "587"
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password() // a user without a password authenticates with an empty one
	}
	return m, nil
}

// send emails msg, a whole RFC 5322 message, to the address to.
func (m *Mail) send(ctx context.Context, to string, msg []byte) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(m.host, m.port)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	defer conn.Close()
	// net/smtp takes no context: the deadline bounds a slow server, and closing the
	// connection ends the conversation when ctx does.
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("SMTP server %s: %w", addr, err)
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("SMTP server %s: greeting: %w", addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.host}); err != nil {
			return fmt.Errorf("SMTP server %s: STARTTLS: %w", addr, err)
		}
	}
	if m.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("SMTP server %s does not offer AUTH, and the SMTP URL has credentials", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", m.user, m.pass, m.host)); err != nil {
			return fmt.Errorf("SMTP server %s: AUTH: %w", addr, err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("SMTP server %s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("SMTP server %s: RCPT TO: %w", addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP server %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("SMTP server %s: send the message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s: message refused: %w", addr, err)
	}
	// The server took the message at the end of DATA: a failed goodbye loses nothing.
	_ = c.Quit()
	return nil
}

// compose writes the plain-text email telling to about n, and returns it with the
// bare address to send it to. w is the webhook, when read (delivery.exhausted names
// only its id); every is how often at most an owner hears about failed deliveries. No
// secret is ever part of it.
func compose(n herald.Notice, w *herald.Webhook, from *mail.Address, to string, every time.Duration, now time.Time) (msg []byte, rcptAddr string, err error) {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, "", fmt.Errorf("notify address %q: %w", to, err)
	}
	subject, body, err := text(n, w, every)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	header := func(name, value string) {
		// Every value is an encoded word or a parsed address: none holds a line break.
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", from.String())
	header("To", rcpt.String())
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.ToLower(herald.NewID(""))+"."+n.Type+"@"+domain(from.Address)+">")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies to this
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, "", fmt.Errorf("encode the message: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, "", fmt.Errorf("encode the message: %w", err)
	}
	return b.Bytes(), rcpt.Address, nil
}

// shortDuration writes d without its zero minutes and seconds: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// oneLine replaces control characters with spaces, so a name cannot start lines of its
// own in the email.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// domain is the part of an address after its @.
func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "herald.invalid"
}

// text returns the subject and body of the email about n.
func text(n herald.Notice, w *herald.Webhook, every time.Duration) (subject, body string, err error) {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	when := func(t time.Time) string { return t.UTC().Format("Mon, 2 Jan 2006 15:04:05 UTC") }
	named := func(name, id string) string {
		if name == "" {
			return id
		}
		return oneLine(name)
	}
	switch n.Type {
	case herald.NoticeWebhookDisabled:
		var d herald.WebhookDisabledData
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return "", "", fmt.Errorf("read the %s notice: %w", n.Type, err)
		}
		subject = fmt.Sprintf("Herald: your webhook endpoint %s was disabled", named(d.Name, d.WebhookID))
		line("Your webhook endpoint %s was disabled: Herald no longer sends it events.", named(d.Name, d.WebhookID))
		line("")
		line("Endpoint:  %s", d.URL)
		line("Webhook:   %s", d.WebhookID)
		line("Reason:    %s", oneLine(d.Reason))
		line("Disabled:  %s", when(d.DisabledAt))
		line("")
		line("Events published while it is disabled are not queued for it, and the deliveries")
		line("that were waiting for a retry were marked failed.")
		line("")
		line("Once the endpoint works again, enable it through the API:")
		line("")
		line("    PATCH /api/v1/webhooks/%s", d.WebhookID)
		line(`    {"enabled": true}`)
		line("")
		line("(or `herald webhooks update %s --enabled true`). Failed deliveries can then be", d.WebhookID)
		line("sent again with POST /api/v1/webhooks/%s/recover {\"since\": \"<RFC 3339 time>\"}.", d.WebhookID)
	case herald.NoticeWebhookEnabled:
		var d herald.WebhookEnabledData
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return "", "", fmt.Errorf("read the %s notice: %w", n.Type, err)
		}
		subject = fmt.Sprintf("Herald: your webhook endpoint %s was enabled", named(d.Name, d.WebhookID))
		line("Your webhook endpoint %s was enabled: Herald sends it events again.", named(d.Name, d.WebhookID))
		line("")
		line("Endpoint:  %s", d.URL)
		line("Webhook:   %s", d.WebhookID)
		line("Enabled:   %s", when(d.EnabledAt))
		line("")
		line("Events published while it was disabled were not queued for it. Failed deliveries")
		line("can be sent again with POST /api/v1/webhooks/%s/recover {\"since\": \"<RFC 3339 time>\"}.", d.WebhookID)
	case herald.NoticeDeliveryExhausted:
		var d herald.DeliveryExhaustedData
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return "", "", fmt.Errorf("read the %s notice: %w", n.Type, err)
		}
		name, endpoint := d.WebhookID, "(deleted since)"
		if w != nil {
			name, endpoint = named(w.Name, w.ID), herald.RedactURL(w.URL)
		}
		subject = fmt.Sprintf("Herald: a delivery to your webhook endpoint %s failed", name)
		line("Herald gave up delivering an event to your webhook endpoint %s after %d attempts.", name, d.Attempts)
		line("")
		line("Endpoint:    %s", endpoint)
		line("Webhook:     %s", d.WebhookID)
		line("Event:       %s (%s)", d.EventID, d.EventType)
		line("Delivery:    %s", d.DeliveryID)
		line("Last error:  %s", oneLine(d.LastError))
		line("Failed:      %s", when(d.FailedAt))
		line("")
		line("Every attempt is in the delivery log:")
		line("")
		line("    GET /api/v1/webhooks/%s/deliveries?status=failed", d.WebhookID)
		line("")
		line("Once the endpoint works, send this delivery again with")
		line("POST /api/v1/deliveries/%s/retry, or every failed delivery since a time with", d.DeliveryID)
		line("POST /api/v1/webhooks/%s/recover {\"since\": \"<RFC 3339 time>\"}.", d.WebhookID)
		line("")
		line("Herald emails about failed deliveries to one endpoint at most once every %s.", shortDuration(every))
	case herald.NoticeCertificateExpiring:
		var d herald.CertificateExpiringData
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return "", "", fmt.Errorf("read the %s notice: %w", n.Type, err)
		}
		subject = fmt.Sprintf("Herald: the client certificate of your webhook endpoint %s expires soon", named(d.Name, d.WebhookID))
		line("The client certificate Herald presents to your webhook endpoint %s expires", named(d.Name, d.WebhookID))
		line("on %s. After that the endpoint will refuse Herald's TLS handshake.", when(d.ExpiresAt))
		line("")
		line("Endpoint:     %s", d.URL)
		line("Webhook:      %s", d.WebhookID)
		line("Certificate:  %s", oneLine(d.Subject))
		line("")
		line("Give the webhook a new certificate and key before then:")
		line("")
		line("    PATCH /api/v1/webhooks/%s", d.WebhookID)
		line(`    {"auth": {"type": "mtls", "certificate": "<PEM>", "private_key": "<PEM>"}}`)
		line("")
		line("(or `herald webhooks update %s --auth-mtls-cert FILE --auth-mtls-key FILE`).", d.WebhookID)
	default:
		return "", "", fmt.Errorf("no email for notices of type %q", n.Type)
	}
	line("")
	line("-- ")
	line("Sent by Herald, the webhook delivery service, to the notify address of tenant %s.", n.TenantID)
	return subject, b.String(), nil
}
