package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
)

// listenUsage explains herald listen.
const listenUsage = `Usage: herald listen [--addr 127.0.0.1:PORT] --format F [--secret S]... [--status CODE] [--forward-to URL]

Runs a local receiver: every delivery it gets is verified and printed (type, ids,
signature verdict, body), then answered with --status, or with the answer of
--forward-to, where the request is passed on unchanged.
`

// listener is the state of one herald listen.
type listener struct {
	format   webhook.Format
	verifier *webhook.Verifier      // nil without --secret
	seen     *webhook.MemoryDeduper // the dedupe keys printed in the last 24 hours
	status   int
	forward  string
	client   *http.Client

	mu  sync.Mutex // one delivery printed at a time; one check-and-mark of seen at a time
	out io.Writer
}

// listen runs a local receiver that verifies and prints deliveries until ctx ends.
func listen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herald listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, listenUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on (port 0 picks a free one)")
	format := fs.String("format", string(herald.FormatStandard), "wire format: standard, infraaudit or frugally")
	var secrets listFlag
	fs.Var(&secrets, "secret", "the webhook's secret (whsec_…) or, for standard, ed25519 public key (whpk_…); repeat during a rotation")
	status := fs.Int("status", http.StatusOK, "status to answer with")
	forward := fs.String("forward-to", "", "pass each request on to this URL and answer with its answer")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *status < 200 || *status > 599 {
		return fmt.Errorf("--status %d: want an HTTP status from 200 to 599", *status)
	}
	l := &listener{
		format: webhook.Format(*format), status: *status, forward: *forward,
		seen:   webhook.NewMemoryDeduper(24 * time.Hour),
		client: &http.Client{Timeout: 30 * time.Second},
		out:    stdout,
	}
	if !herald.Format(*format).Valid() {
		return fmt.Errorf("--format %q: want standard, infraaudit or frugally", *format)
	}
	if len(secrets) > 0 {
		v, err := webhook.NewVerifier(l.format, secrets...)
		if err != nil {
			return err
		}
		l.verifier = v
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s/ for %s deliveries\n", ln.Addr(), l.format)
	if l.verifier == nil {
		fmt.Fprintln(stdout, "no --secret: signatures are not checked")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Still busy after the grace: net/http counts a connection a client opened but never
	// sent a request on (Herald's transport may dial one spare) as busy for 5 s. Every
	// request that was answered has been printed, so close the rest.
	return srv.Close()
}

// ServeHTTP verifies, prints and answers one request.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.DefaultMaxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var b strings.Builder
	status, verdict := l.status, "not checked (no --secret)"
	if l.verifier != nil {
		if err := l.verifier.Verify(r.Header, body); err != nil {
			status, verdict = http.StatusUnauthorized, "INVALID: "+err.Error()
		} else {
			verdict = "valid"
		}
	}
	ev, parseErr := webhook.Parse(l.format, r.Header, body)
	typ := "?"
	if parseErr == nil {
		typ = ev.Type
	}
	fmt.Fprintf(&b, "── %s  %s %s  %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.RequestURI(), typ)
	if parseErr != nil {
		fmt.Fprintf(&b, "   envelope   not a %s delivery: %v\n", l.format, parseErr)
	} else {
		l.describe(&b, r.Context(), ev)
	}
	fmt.Fprintf(&b, "   signature  %s\n", verdict)
	fmt.Fprintf(&b, "   body       %s\n", indentJSON(body))

	if l.forward != "" && status != http.StatusUnauthorized {
		status = l.forwardTo(&b, r, body, w)
	} else {
		w.WriteHeader(status)
	}
	fmt.Fprintf(&b, "   answered   %d\n", status)
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.out, b.String())
}

// describe writes a parsed delivery's ids and whether its dedupe key came before.
func (l *listener) describe(b *strings.Builder, ctx context.Context, ev *webhook.Event) {
	fmt.Fprintf(b, "   type       %s (occurred %s)\n", ev.Type, ev.Timestamp.UTC().Format(time.RFC3339))
	if ev.EventID != "" {
		fmt.Fprintf(b, "   event      %s\n", ev.EventID)
	}
	if ev.DeliveryID != "" {
		fmt.Fprintf(b, "   delivery   %s to webhook %s\n", ev.DeliveryID, ev.WebhookID)
	}
	if ev.TeamID != "" {
		fmt.Fprintf(b, "   team       %s\n", ev.TeamID)
	}
	if l.repeat(ctx, ev.ID) {
		fmt.Fprintf(b, "   repeat     dedupe key %s came before: a receiver would skip it\n", ev.ID)
	}
}

// repeat reports whether a delivery with dedupe key came before, and records that it
// has now: every delivery is printed, so every one counts as handled. Of two copies
// arriving together, one is the repeat.
func (l *listener) repeat(ctx context.Context, key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The in-memory deduper never fails.
	if seen, _ := l.seen.Seen(ctx, key); seen {
		return true
	}
	_ = l.seen.Done(ctx, key)
	return false
}

// forwardTo passes the request on and copies the answer back; it returns the status.
func (l *listener) forwardTo(b *strings.Builder, r *http.Request, body []byte, w http.ResponseWriter) int {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, l.forward, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(b, "   forward    %v\n", err)
		w.WriteHeader(http.StatusBadGateway)
		return http.StatusBadGateway
	}
	for name, values := range r.Header {
		if !notForwarded[name] {
			req.Header[name] = values
		}
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		fmt.Fprintf(b, "   forward    %s failed: %v\n", l.forward, err)
		w.WriteHeader(http.StatusBadGateway)
		return http.StatusBadGateway
	}
	defer resp.Body.Close()
	fmt.Fprintf(b, "   forward    %s answered %d in %s\n", l.forward, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, herald.MaxResponseBody)) // the receiver keeps no more
	return resp.StatusCode
}

// notForwarded are the headers of a delivery that describe its connection, not the
// delivery. Accept-Encoding stays out too: set by hand it would stop Go from decoding a
// compressed answer, which would then go back to Herald still compressed.
var notForwarded = map[string]bool{
	"Accept-Encoding": true, "Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// indentJSON pretty-prints a JSON body under the listing's indentation; other bodies
// are shown as they are.
func indentJSON(body []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, body, "              ", "  "); err != nil {
		return string(body)
	}
	return out.String()
}
