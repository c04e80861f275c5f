package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestServeConfigFromFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HERALD_RETRY_SCHEDULE":          "1s,2s",
		"HERALD_ALLOW_PRIVATE_NETWORKS":  "true",
		"HERALD_FORMAT":                  "frugally",
		"HERALD_ATTEMPT_TIMEOUT":         "3s",
		"HERALD_PER_WEBHOOK_CONCURRENCY": "4",
	}
	cfg, err := parseServe([]string{"--format", "infraaudit"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.format != "infraaudit" {
		t.Errorf("format %q: the flag must win over HERALD_FORMAT", cfg.format)
	}
	if cfg.retrySchedule != "1s,2s" || !cfg.allowPrivate || cfg.attemptTimeout != 3*time.Second || cfg.perWebhook != 4 {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.dataDir != "./herald-data" {
		t.Errorf("defaults changed: addr %q data dir %q", cfg.addr, cfg.dataDir)
	}

	for name, getenv := range map[string]func(string) string{
		"bad duration":  func(k string) string { return map[string]string{"HERALD_ATTEMPT_TIMEOUT": "soon"}[k] },
		"bad format":    func(k string) string { return map[string]string{"HERALD_FORMAT": "xml"}[k] },
		"bad bool flag": func(k string) string { return map[string]string{"HERALD_ALLOW_PRIVATE_NETWORKS": "maybe"}[k] },
	} {
		if _, err := parseServe(nil, io.Discard, getenv); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEncryptionKeyChecks refuses to start with a key that did not seal the database's
// secrets, and on PostgreSQL without an explicit key.
func TestEncryptionKeyChecks(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	startServer(t, dir).stop() // seals its check value with the generated key
	err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--admin-key", testAdminKey, "--encryption-key", newEncryptionKey()}, io.Discard, io.Discard, noEnv)
	if err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("serve with another key: %v, want a refusal", err)
	}
	err = run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--database-url", "postgres://127.0.0.1:1/none"}, io.Discard, io.Discard, noEnv)
	if err == nil || !strings.Contains(err.Error(), "--encryption-key") {
		t.Errorf("serve on PostgreSQL without a key: %v, want a refusal naming --encryption-key", err)
	}
}

func TestPortalFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HERALD_PUBLIC_URL":             "https://herald.example.com/",
		"HERALD_PORTAL_FRAME_ANCESTORS": "https://app.example.com https://admin.example.com:8443",
		"HERALD_PORTAL_BRAND_COLOR":     "#0a7",
	}
	cfg, err := parseServe([]string{"--portal-brand-name", "Acme Cloud"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.portal
	if p.publicURL != "https://herald.example.com" || strings.Join(p.frameAncestors, " ") != "https://app.example.com https://admin.example.com:8443" ||
		p.branding.Name != "Acme Cloud" || p.branding.Color != "#0a7" {
		t.Errorf("portal configuration %+v", p)
	}
	for name, args := range map[string][]string{
		"public URL with a path":   {"--public-url", "https://herald.example.com/portal"},
		"public URL not a URL":     {"--public-url", "herald.example.com"},
		"ancestor with a path":     {"--portal-frame-ancestors", "https://app.example.com/settings"},
		"ancestor a CSP keyword":   {"--portal-frame-ancestors", "'self'"},
		"ancestor adding a policy": {"--portal-frame-ancestors", "https://a.example;script-src"},
		"ancestor a wildcard":      {"--portal-frame-ancestors", "*"},
		"colour a name":            {"--portal-brand-color", "red"},
		"logo over http":           {"--portal-brand-logo", "http://cdn.example.com/logo.png"},
		"logo an svg":              {"--portal-brand-logo", "data:image/svg+xml;base64,PHN2Zz4="},
	} {
		if _, err := parseServe(args, io.Discard, func(string) string { return "" }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
