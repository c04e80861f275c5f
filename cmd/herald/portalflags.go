package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/portal"
)

// portalConfig is how `herald serve` presents the portal to a provider's customers:
// where browsers reach it, which sites may embed it, and the installation's branding.
type portalConfig struct {
	publicURL      string
	ancestorsFlag  string
	frameAncestors []string
	branding       herald.Branding
}

func (c *portalConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.publicURL, "public-url", "", "the origin browsers reach Herald at (https://herald.example.com), that portal links are built on (default: each minting request's own host)")
	fs.StringVar(&c.ancestorsFlag, "portal-frame-ancestors", "", "space-separated origins whose pages may embed the portal in an iframe, e.g. \"https://app.example.com https://admin.example.com\"; the session cookie then becomes SameSite=None; Secure; Partitioned (default: no framing)")
	fs.StringVar(&c.branding.Name, "portal-brand-name", "", "name the portal shows in place of Herald, and in \"← Back to <name>\"; a tenant's branding overrides it")
	fs.StringVar(&c.branding.Color, "portal-brand-color", "", "accent colour of the portal's links and buttons, #rgb or #rrggbb")
	fs.StringVar(&c.branding.LogoURL, "portal-brand-logo", "", "logo beside the name: an https:// URL, or a base64 data:image/png (jpeg, gif, webp) URL")
}

// validate checks every origin and the branding, so a typo stops the start rather than
// a customer's iframe.
func (c *portalConfig) validate() error {
	if c.publicURL != "" {
		if err := portal.ValidOrigin(c.publicURL); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
		c.publicURL = strings.TrimSuffix(c.publicURL, "/")
	}
	c.frameAncestors = nil
	for _, o := range strings.FieldsFunc(c.ancestorsFlag, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if err := portal.ValidOrigin(o); err != nil {
			return fmt.Errorf("--portal-frame-ancestors: %w", err)
		}
		c.frameAncestors = append(c.frameAncestors, strings.TrimSuffix(o, "/"))
	}
	c.branding.Name = strings.TrimSpace(c.branding.Name)
	if err := c.branding.Validate(); err != nil {
		return fmt.Errorf("--portal-brand-*: %w", err)
	}
	return nil
}
