package dispatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// userAgent is sent with every attempt.
const userAgent = "Herald/" + herald.Version

// drainLimit is how much of a response body beyond what is kept is read so the
// connection can be reused; a larger body closes the connection instead.
const drainLimit = 64 << 10

// send makes one HTTP request for c and returns the attempt (not yet numbered by the
// store) and the response's Retry-After header.
func (d *Dispatcher) send(ctx context.Context, c *herald.Claim, policy wire.Policy) (*herald.Attempt, string) {
	now := d.cfg.Clock.Now()
	a := &herald.Attempt{
		ID:         herald.NewID(herald.PrefixAttempt),
		DeliveryID: c.Delivery.ID,
		Number:     c.Delivery.AttemptCount + 1,
		At:         now,
	}
	ctx, span := d.startAttempt(ctx, c, a)
	defer endAttempt(span, a)
	msg, err := wire.Build(&c.Event, &c.Webhook, c.Delivery.ID, now)
	if err != nil {
		a.Error = fmt.Sprintf("build request: %v", err)
		return a, ""
	}
	// The cause tells the attempt's own timeout apart from a deadline of the caller's
	// (an API request that asked for this attempt), so the log blames the right one.
	ctx, cancel := context.WithTimeoutCause(ctx, policy.Timeout, errAttemptTimeout)
	defer cancel()
	if herald.DestinationOf(c.Webhook.URL).IsBroker() {
		d.publish(ctx, c, a, msg, policy.Timeout)
		return a, ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Webhook.URL, bytes.NewReader(msg.Body))
	if err != nil {
		a.Error = fmt.Sprintf("build request: %v", err)
		return a, ""
	}
	req.Header = msg.Header
	req.Header.Set("User-Agent", userAgent)
	a.RequestHeaders = req.Header.Clone()

	start := time.Now()
	resp, err := d.do(req, &c.Webhook, a, policy.Timeout) // with the webhook's auth
	if err != nil {
		a.DurationMS = time.Since(start).Milliseconds()
		a.Error = describe(ctx, err, policy.Timeout)
		return a, ""
	}
	defer resp.Body.Close()
	body, bodyNote := readBody(ctx, resp, policy.Timeout)
	a.DurationMS = time.Since(start).Milliseconds()
	a.StatusCode = resp.StatusCode
	// Only what the attempt stores is kept from here on, however much the endpoint sent.
	a.ResponseHeaders = herald.CapHeaders(resp.Header, herald.MaxResponseHeaderBytes)
	a.ResponseBody = strings.ToValidUTF8(string(body), string(utf8.RuneError))
	// The status line decides the outcome. A 2xx whose body is cut off, incomplete or
	// too long is still a 2xx: the receiver has accepted the delivery, and its body is
	// only kept for the log, so the note goes with a successful attempt.
	a.Success = resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// The Location is the endpoint's text: quoted, and cut so it cannot fill the log.
		a.Error = fmt.Sprintf("%v: %d to %q", errRedirect, resp.StatusCode, clip(resp.Header.Get("Location")))
	case !a.Success:
		a.Error = fmt.Sprintf("endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	a.Error = joinNotes(a.Error, bodyNote)
	return a, resp.Header.Get("Retry-After")
}

// readBody reads what the attempt log keeps of resp's body, at most
// herald.MaxResponseBody bytes, and returns it with a note for the log when the body was
// longer, incomplete or cut off by the attempt's timeout (ctx). It reads a little more
// (drainLimit) so the connection can carry the next attempt; a receiver that sends more
// than that loses its connection when the caller closes the body, not our memory or
// time: a 1 GB body costs one read of some 68 KiB.
func readBody(ctx context.Context, resp *http.Response, timeout time.Duration) ([]byte, string) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, herald.MaxResponseBody+1))
	if err != nil {
		return body, bodyProblem(ctx, err, len(body), resp.ContentLength, timeout)
	}
	if len(body) <= herald.MaxResponseBody {
		return body, ""
	}
	body = body[:herald.MaxResponseBody]
	note := fmt.Sprintf("response body truncated at %d bytes", herald.MaxResponseBody)
	if resp.ContentLength > 0 {
		note = fmt.Sprintf("response body of %d bytes truncated at %d", resp.ContentLength, herald.MaxResponseBody)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	if err != nil {
		// The stored part is complete; what broke is the part nobody keeps, which is
		// still worth a word when it is the timeout.
		note = joinNotes(note, bodyProblem(ctx, err, herald.MaxResponseBody+1+int(n), resp.ContentLength, timeout))
	}
	return body, note
}

// bodyProblem says why reading a response body failed after read bytes of it.
func bodyProblem(ctx context.Context, err error, read int, contentLength int64, timeout time.Duration) string {
	switch {
	case errors.Is(context.Cause(ctx), errAttemptTimeout):
		return fmt.Sprintf("response body cut off at the %s timeout", timeout)
	case ctx.Err() != nil:
		return "response body cut off: " + stopped(ctx, timeout)
	case errors.Is(err, syscall.ECONNRESET):
		return "response body cut off: connection reset by peer"
	case errors.Is(err, io.ErrUnexpectedEOF) && contentLength > 0:
		return fmt.Sprintf("response body incomplete: the connection closed after %d of the %d bytes its Content-Length promised", read, contentLength)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "response body incomplete: the connection closed in the middle of it"
	}
	return "reading response body: " + describe(ctx, err, timeout)
}

// errAttemptTimeout is the cause of an attempt's context that reached the attempt
// timeout.
var errAttemptTimeout = errors.New("attempt timeout")

// stopped says why an attempt's context ended before the endpoint was done, when that
// was not the attempt's own timeout: the deadline of whoever asked for the attempt (an
// API request), or a cancellation (shutdown, or a caller that went away).
func stopped(ctx context.Context, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("stopped by the deadline of the request that asked for it, before the attempt's %s timeout", timeout)
	}
	return "cancelled: Herald was shutting down"
}

// joinNotes joins the non-empty parts of an attempt's error with "; ".
func joinNotes(notes ...string) string {
	var kept []string
	for _, n := range notes {
		if n != "" {
			kept = append(kept, n)
		}
	}
	return strings.Join(kept, "; ")
}

// describe turns a transport error into a line for the attempt log that says what the
// endpoint did, in words an endpoint owner can act on, without repeating the webhook's
// URL or the ephemeral ports of the connection.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	var netErr net.Error
	var authErr *authError
	switch {
	case errors.As(err, &authErr):
		return authErr.msg // worded already: the token endpoint's answer, say
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), errAttemptTimeout):
		// Not the endpoint's doing: the attempt was stopped from outside.
		return stopped(ctx, timeout)
	case errors.Is(err, errAttemptTimeout) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		// net/http reports a context that ended by its cause: errAttemptTimeout.
		return fmt.Sprintf("timed out: no response within %s", timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled: Herald was shutting down"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer before it answered"
	case errors.Is(err, syscall.EPIPE):
		return "connection closed by the endpoint while the request was being sent"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the endpoint before it answered"
	}
	if msg, ok := connectProblem(err); ok {
		return msg
	}
	var urlErr interface{ Unwrap() error }
	if errors.As(err, &urlErr) {
		err = urlErr.Unwrap() // drop the `Post "url":` prefix that repeats the webhook's URL
	}
	msg := err.Error()
	// net/http reports an answer it cannot parse (a status line or header that is not
	// HTTP) only as text, under this prefix.
	if rest, ok := strings.CutPrefix(msg, "net/http: HTTP/1.x transport connection broken: "); ok && strings.Contains(rest, "malformed") {
		// rest quotes the endpoint's bytes, up to a whole header block: keep a few.
		return "malformed HTTP response: " + clip(rest)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return "TLS handshake failed: the endpoint sent " + clip(opErr.Err.Error())
	}
	if errors.As(err, &opErr) && opErr.Err != nil {
		// Its text names both ends of the connection: Herald's own address and port
		// among them, which are no business of a tenant's.
		return "connection failed: " + clip(opErr.Err.Error())
	}
	return msg
}

// connectProblem names what went wrong in reaching the endpoint: resolving its host,
// connecting, or the TLS handshake. The Go errors' own text names the resolver's
// address ("lookup x on 10.0.0.53:53") and the connection's local address, which tell a
// tenant about Herald's network: they are left out.
func connectProblem(err error) (string, bool) {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &dnsErr):
		why := "the lookup failed"
		switch {
		case dnsErr.IsNotFound:
			why = "no such host"
		case dnsErr.IsTimeout:
			why = "the lookup timed out"
		case dnsErr.IsTemporary:
			why = "the lookup failed for now (the name server answered with an error)"
		}
		return fmt.Sprintf("cannot resolve host %s: %s", clip(dnsErr.Name), why), true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable", true
	case errors.As(err, &certErr):
		return "TLS handshake failed: " + clip(certErr.Err.Error()), true
	case errors.As(err, &recordErr):
		return "TLS handshake failed: the endpoint did not answer in TLS (is it plain HTTP?)", true
	case errors.As(err, &alert):
		return "TLS handshake failed: the endpoint sent alert " + alert.Error(), true
	}
	return "", false
}

// maxQuoted bounds how much of an endpoint's own text (a Location, a line net/http could
// not parse) an attempt's error quotes: enough to recognize it, not enough to fill the
// attempt log or the delivery's last error with what the endpoint chose to send.
const maxQuoted = 256

// clip returns s cut to at most maxQuoted bytes of valid UTF-8, with "…" when it was cut.
func clip(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
