package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/heraldhq/herald/client"
)

// tenantsCommand is `herald tenants`: what a tenant does with its own account.
var tenantsCommand = &clientGroup{
	name:    "tenants",
	summary: "Manage a tenant's account on a running Herald server (the admin key, or the tenant's own key).",
	commands: []clientSubcommand{
		{"rotate-key", "ID [--grace 1h]",
			"Give a tenant a new API key, shown once; the old key keeps working for the grace period (default none), and the tenant's portal sessions end.",
			tenantsRotateKey},
		{"portal-link", "ID [--ttl 15m] [--read-only] [--return-url URL]",
			"Mint a single-use link that signs its visitor in to the tenant's portal with no key: to embed in an iframe or open in a browser.",
			tenantsPortalLink},
	},
}

// runTenants runs `herald tenants`.
func runTenants(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return tenantsCommand.run(ctx, args, stdout, stderr, getenv)
}

func tenantsRotateKey(ctx context.Context, c *clientCommand, args []string) error {
	var grace time.Duration
	c.flags.DurationVar(&grace, "grace", 0, "how long the old key keeps working too, at most 720h; 0 stops it at once")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	if grace < 0 || grace%time.Second != 0 {
		return fmt.Errorf("--grace %s: want whole seconds, 0 or more", grace)
	}
	res, err := c.api.Tenants.RotateKey(c.capture(ctx), ids[0], grace)
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "TENANT\t%s\n", ids[0])
		fmt.Fprintf(w, "API KEY\t%s\n", res.APIKey)
		if res.PreviousKeyExpiresAt != nil {
			fmt.Fprintf(w, "PREVIOUS KEY\tworks until %s\n", showTime(*res.PreviousKeyExpiresAt))
		} else {
			fmt.Fprintf(w, "PREVIOUS KEY\tno longer works\n")
		}
		fmt.Fprintln(w, "\nThe key is shown only this once: store it now.")
	})
}

func tenantsPortalLink(ctx context.Context, c *clientCommand, args []string) error {
	var req client.PortalLinkOptions
	var ttl string
	c.flags.StringVar(&ttl, "ttl", "", "how long the link can be followed, at most 24h (default 15m)")
	c.flags.BoolVar(&req.ReadOnly, "read-only", false, "the session sees everything and changes nothing")
	c.flags.StringVar(&req.ReturnURL, "return-url", "", "where \"← Back to …\" and the expired-link page send the visitor")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	if ttl != "" {
		if req.TTL, err = time.ParseDuration(ttl); err != nil || req.TTL <= 0 {
			return fmt.Errorf("--ttl %q: want a duration like 15m or 2h, at most 24h", ttl)
		}
	}
	res, err := c.api.Tenants.PortalLink(c.capture(ctx), ids[0], req)
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "URL\t%s\n", res.URL)
		fmt.Fprintf(w, "EXPIRES\t%s\n", showTime(res.ExpiresAt))
		fmt.Fprintln(w, "\nThe link works once.")
	})
}
