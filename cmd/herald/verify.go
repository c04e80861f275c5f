package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
)

// verifyUsage explains herald verify.
const verifyUsage = `Usage: herald verify --format F --secret S [--secret S2] --header 'Name: value'... < body

Checks a received request: the raw body on stdin, its headers as given. Prints "valid"
and exits 0, or says exactly what is wrong and exits 1.
`

// verify checks the signature of the body on stdin against the headers given.
func verify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herald verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage); fs.PrintDefaults() }
	format := fs.String("format", string(herald.FormatStandard), "wire format: standard, infraaudit or frugally")
	var secrets, headers listFlag
	fs.Var(&secrets, "secret", "a secret (whsec_…) or, for standard, an ed25519 public key (whpk_…); repeat during a rotation")
	fs.Var(&headers, "header", "a request header as 'Name: value'; repeat for each")
	tolerance := fs.Duration("tolerance", webhook.DefaultTolerance, "standard: how far webhook-timestamp may be from now; 0 skips the check")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	h, err := requestHeaders(headers)
	if err != nil {
		return err
	}
	v, err := webhook.NewVerifier(webhook.Format(*format), secrets...)
	if err != nil {
		return err
	}
	v.Tolerance = *tolerance
	if *tolerance == 0 {
		v.Tolerance = -1
	}
	body, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := v.Verify(h, body); err != nil {
		return fmt.Errorf("invalid: %w", err)
	}
	fmt.Fprintln(stdout, "valid")
	return nil
}

// requestHeaders reads 'Name: value' flags into a request's header.
func requestHeaders(given []string) (http.Header, error) {
	m, err := parseHeaders(given)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for name, value := range m {
		h.Set(name, value)
	}
	return h, nil
}
