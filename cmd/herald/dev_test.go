package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var exportLine = regexp.MustCompile(`(?m)^\s*export HERALD_SERVER=(http://\S+) HERALD_API_KEY=(\S+)$`)

// startDev runs `herald serve --dev` on dataDir with args and returns the server URL,
// the admin key of its export line, its output and a function that stops it; it stops
// with the test at the latest.
func startDev(t *testing.T, dataDir string, args ...string) (srvURL, key, out string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	argv := append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--poll-interval", "50ms", "--log-level", "warn"}, args...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, argv, stdout, stderr, func(string) string { return "" }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve --dev: %v\n%s", err, stderr)
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := exportLine.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], m[2], stdout.String(), stop
		}
		if strings.Contains(stdout.String(), "HERALD_API_KEY=<admin key>") {
			return "", "", stdout.String(), stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --dev printed no export line in 30 s:\n%s\n%s", stdout, stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeDev: `herald serve --dev` says loudly that it is in development mode, prints
// an export line that works as it is, with the same key on every start, and delivers to
// a receiver on this machine, which a server without --dev refuses.
func TestServeDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rc := newReceiver(t)
	srvURL, key, out, stop := startDev(t, dir)
	if !strings.Contains(out, "DEVELOPMENT MODE (--dev)") || !strings.Contains(out, "Never use --dev in production") {
		t.Errorf("serve --dev prints no clear banner:\n%s", out)
	}
	if !strings.HasPrefix(key, "hk_admin_") {
		t.Fatalf("the export line's key is %q, want the generated admin key", key)
	}
	// The CLI, with the export line's variables, creates a webhook on loopback and its
	// ping arrives.
	env := map[string]string{"HERALD_SERVER": srvURL, "HERALD_API_KEY": key}
	stdout, stderr, err := cliEnv(t, env, "webhooks", "create", "--url", rc.URL+"/hook", "--name", "local")
	if err != nil {
		t.Fatalf("webhooks create against serve --dev: %v\n%s\n%s", err, stdout, stderr)
	}
	if ping := field(t, stdout, "PING"); !strings.HasPrefix(ping, "delivered: HTTP 200") {
		t.Errorf("the ping to a receiver on loopback: %q, want delivered", ping)
	}
	if info, err := os.Stat(filepath.Join(dir, devKeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the kept dev key: %v, mode %v; want a file only its owner reads", err, info)
	}

	// The next start on the same data directory prints the same working line.
	stop()
	srv2, key2, _, _ := startDev(t, dir)
	if key2 != key {
		t.Errorf("the second start's key is %q, want the first's %q", key2, key)
	}
	if code := api(t, srv2, http.MethodGet, "/api/v1/webhooks", key2, nil, nil); code != http.StatusOK {
		t.Errorf("the second start's export line: GET /api/v1/webhooks answered %d, want 200", code)
	}

	// Without --dev, endpoints on this machine stay refused.
	for args, want := range map[string]bool{"--dev": true, "": false} {
		cfg, err := parseServe(strings.Fields(args), &syncBuffer{}, func(string) string { return "" })
		if err != nil || cfg.allowPrivate != want {
			t.Errorf("serve %s: private networks allowed %v (%v), want %v", args, cfg != nil && cfg.allowPrivate, err, want)
		}
	}
}

// TestServeDevRefusesAPublicAddress: --dev allows private endpoints, so it never listens
// beyond loopback.
func TestServeDevRefusesAPublicAddress(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080"} {
		err := run(context.Background(), []string{"serve", "--dev", "--addr", addr, "--data-dir", t.TempDir()},
			&syncBuffer{}, &syncBuffer{}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "loopback only") {
			t.Errorf("serve --dev --addr %s: %v, want a refusal naming loopback", addr, err)
		}
	}
}
