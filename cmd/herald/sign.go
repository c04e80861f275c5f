package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
)

// signUsage explains herald sign.
const signUsage = `Usage: herald sign --format F --secret S [--id ID] [--timestamp TS] < body

Prints the headers Herald would sign the body on stdin with, one 'Name: value' a line.
The body is signed byte for byte, a trailing newline included: use printf or a file.
`

// sign prints the signature headers of the body on stdin.
func sign(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herald sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, signUsage); fs.PrintDefaults() }
	format := fs.String("format", string(herald.FormatStandard), "wire format: standard, infraaudit or frugally")
	secret := fs.String("secret", "", "the webhook's secret (whsec_…), or an ed25519 private key (whsk_…) for standard")
	id := fs.String("id", "", "standard: the webhook-id (default a new event id)")
	ts := fs.String("timestamp", "", "standard: the webhook-timestamp, Unix seconds or RFC 3339 (default now)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *secret == "" {
		return fmt.Errorf("--secret is required")
	}
	at := time.Now()
	if *ts != "" {
		var err error
		if at, err = parseTimestamp(*ts); err != nil {
			return err
		}
	}
	if *id == "" {
		*id = herald.NewID(herald.PrefixEvent)
	}
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	h, err := webhook.Sign(webhook.Format(*format), *secret, *id, at, body)
	if err != nil {
		return err
	}
	for _, name := range []string{
		webhook.HeaderWebhookID, webhook.HeaderWebhookTimestamp, webhook.HeaderWebhookSignature,
		webhook.HeaderInfraAuditSignature, webhook.HeaderFrugallySignature, webhook.HeaderContentDigest,
	} {
		if v := h.Get(name); v != "" {
			fmt.Fprintf(stdout, "%s: %s\n", name, v)
		}
	}
	return nil
}

// parseTimestamp reads Unix seconds or an RFC 3339 time.
func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--timestamp %q: want Unix seconds or RFC 3339", s)
	}
	return t, nil
}

// parseArgs parses a command's flags and refuses leftover arguments.
func parseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}
