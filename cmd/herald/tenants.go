package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
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
	req := struct {
		GracePeriodSeconds int64 `json:"grace_period_seconds"`
	}{int64(grace / time.Second)}
	ans, err := c.api.call(ctx, http.MethodPost, pathID("/api/v1/tenants", ids[0])+"/rotate-key", nil, nil, req)
	if err != nil {
		return err
	}
	var res struct {
		APIKey               string     `json:"api_key"`
		PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at"`
	}
	if err := ans.decode(&res); err != nil {
		return err
	}
	return c.show(ans.body, func(w io.Writer) {
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
	var req struct {
		TTL       string `json:"ttl,omitempty"`
		ReadOnly  bool   `json:"read_only,omitempty"`
		ReturnURL string `json:"return_url,omitempty"`
	}
	c.flags.StringVar(&req.TTL, "ttl", "", "how long the link can be followed, at most 24h (default 15m)")
	c.flags.BoolVar(&req.ReadOnly, "read-only", false, "the session sees everything and changes nothing")
	c.flags.StringVar(&req.ReturnURL, "return-url", "", "where \"← Back to …\" and the expired-link page send the visitor")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	ans, err := c.api.call(ctx, http.MethodPost, pathID("/api/v1/tenants", ids[0])+"/portal-links", nil, nil, req)
	if err != nil {
		return err
	}
	var res struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := ans.decode(&res); err != nil {
		return err
	}
	return c.show(ans.body, func(w io.Writer) {
		fmt.Fprintf(w, "URL\t%s\n", res.URL)
		fmt.Fprintf(w, "EXPIRES\t%s\n", showTime(res.ExpiresAt))
		fmt.Fprintln(w, "\nThe link works once.")
	})
}
