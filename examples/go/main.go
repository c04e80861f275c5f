// Command receiver is a Herald webhook receiver in Go, built on Herald's receiver library
// github.com/heraldhq/herald/webhook (standard library only).
//
// The library does the work: webhook.Verifier checks the signature on the raw body,
// webhook.Handler parses the event, skips deliveries its Deduper has marked handled,
// calls the function registered for the event's type and, once it succeeded, marks the
// delivery handled. This program adds one line per request on stdout, the same lines as
// the Python and Node.js receivers print: its functions print the events they handle,
// and the Handler's hooks OnDuplicate and OnReject the rest.
//
//	listening on 8000
//	verified type=drift.detected key=del_01JD...     a new event: handled
//	duplicate type=drift.detected key=del_01JD...    handled before: answered 200, nothing done
//	rejected status=401 reason=signature_mismatch    not from Herald (or the wrong secret)
//	failed status=500 reason=handler_error           your code failed: nothing marked, Herald retries
//
// Run it with your webhook's format and secret (shown once, when you created the webhook):
//
//	go run ./examples/go --format standard --secret whsec_... --port 8000
//
// or with WEBHOOK_FORMAT, WEBHOOK_SECRET and PORT in the environment. During a secret
// rotation give both secrets (--secret OLD --secret NEW, or WEBHOOK_SECRET="OLD NEW").
// Port 0 picks a free port; the line "listening on <port>" says which.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// maxBody bounds a request's body. Herald refuses events over 1 MiB, and the envelope
// adds a few hundred bytes to the data, so the library's 1 MiB default is a little tight.
const maxBody = 2 << 20

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(2)
	}

	// 1. A Verifier for the webhook's format and secrets: it checks the signature on the
	// raw body, in constant time, and for standard the timestamp.
	v, err := webhook.NewVerifier(cfg.format, cfg.secrets...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(2)
	}
	v.MaxBody = maxBody

	// 2. A Handler that skips deliveries already handled: the Deduper remembers each
	// format's dedupe key (infraaudit's delivery_id, frugally's id, standard's
	// webhook-id), marked Done only once your function succeeded, so that a delivery
	// whose handling failed or died is handled when Herald retries it. In memory here;
	// several instances need a shared Deduper.
	h := webhook.NewHandler(v, webhook.NewMemoryDeduper(cfg.dedupeTTL))

	// 3. Your code, per event type. Answer fast: Herald waits 10 s (15 s for standard),
	// then counts the attempt as failed and sends it again; queue slow work. An error
	// answers 500, and Herald retries later. Returning nil marks the delivery handled.
	webhook.On(h, webhook.TypeDriftDetected, func(ctx context.Context, e *webhook.Event, d *webhook.DriftDetected) error {
		// d is the event's data, decoded: d.ResourceName, d.Severity, d.Summary, …
		printLine("verified", e)
		return nil
	})
	h.On("*", func(ctx context.Context, e *webhook.Event) error { // every other type
		printLine("verified", e)
		return nil
	})

	// 4. A line for the requests your functions do not see: a repeat, answered 200
	// without calling them, and a refusal, with the status and the error that caused it.
	h.OnDuplicate = func(ctx context.Context, e *webhook.Event) {
		printLine("duplicate", e)
	}
	h.OnReject = func(r *http.Request, status int, err error) {
		if status >= 500 { // the receiver's fault: the Logger below gives the details
			fmt.Printf("failed status=%d reason=handler_error\n", status)
			return
		}
		fmt.Printf("rejected status=%d reason=%s\n", status, reason(status, err))
	}
	// The Handler also logs every refusal; keep only the receiver's faults, on stderr.
	h.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	if err := serve(cfg.host, cfg.port, h); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// serve listens on host:port, prints "listening on <port>" and serves handler until
// SIGINT or SIGTERM, then lets requests in flight finish.
func serve(host string, port int, handler http.Handler) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	fmt.Printf("listening on %d\n", ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// The rest prints the lines. os.Stdout is not buffered: each line is written at once.

// printLine prints outcome, the event's type and its dedupe key.
func printLine(outcome string, e *webhook.Event) {
	fmt.Printf("%s type=%s key=%s\n", outcome, printable(e.Type), printable(e.ID))
}

// printable replaces anything but printable ASCII, so one request stays one line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// reason is the code the Python and Node.js receivers print for the same refusal.
func reason(status int, err error) string {
	switch {
	case errors.Is(err, webhook.ErrNoSignature), errors.Is(err, webhook.ErrWrongFormat):
		return "missing_signature"
	case errors.Is(err, webhook.ErrMissingHeader):
		return "missing_header"
	case errors.Is(err, webhook.ErrTimestampOutOfTolerance):
		return "timestamp_out_of_tolerance"
	case errors.Is(err, webhook.ErrSignatureMismatch):
		return "signature_mismatch"
	case errors.Is(err, webhook.ErrInvalidPayload):
		return "malformed_body"
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return "body_too_large"
	case status == http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case status == http.StatusConflict:
		return "in_progress" // the same key is being handled: Herald tries again later
	}
	return "bad_request"
}

// config is what the command line and the environment say.
type config struct {
	format    webhook.Format
	secrets   []string
	host      string
	port      int
	dedupeTTL time.Duration
}

// parseFlags reads the flags, with WEBHOOK_FORMAT, WEBHOOK_SECRET, HOST and PORT as
// defaults.
func parseFlags(args []string) (config, error) {
	cfg := config{format: webhook.Format(os.Getenv("WEBHOOK_FORMAT")), host: "127.0.0.1", port: 8000}
	if h := os.Getenv("HOST"); h != "" {
		cfg.host = h
	}
	if p := os.Getenv("PORT"); p != "" {
		var err error
		if cfg.port, err = strconv.Atoi(p); err != nil {
			return cfg, fmt.Errorf("PORT %q is not a number", p)
		}
	}
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	fs.Func("format", "the webhook's format: infraaudit, frugally or standard (WEBHOOK_FORMAT)", func(s string) error {
		cfg.format = webhook.Format(s)
		return nil
	})
	fs.Func("secret", "the webhook's secret; repeat during a rotation (WEBHOOK_SECRET, several separated by spaces)", func(s string) error {
		cfg.secrets = append(cfg.secrets, s)
		return nil
	})
	fs.StringVar(&cfg.host, "host", cfg.host, "address to listen on (HOST)")
	fs.IntVar(&cfg.port, "port", cfg.port, "port to listen on, 0 for any free one (PORT)")
	fs.DurationVar(&cfg.dedupeTTL, "dedupe-ttl", webhook.DefaultDedupeTTL, "how long to remember a dedupe key")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if len(cfg.secrets) == 0 {
		cfg.secrets = strings.Fields(os.Getenv("WEBHOOK_SECRET"))
	}
	if len(cfg.secrets) == 0 {
		return cfg, errors.New("--secret (or WEBHOOK_SECRET) is required")
	}
	return cfg, nil // NewVerifier checks the format and the secrets
}
