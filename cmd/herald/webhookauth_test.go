package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/authtest"
)

// TestClientWebhookAuthThroughEgressProxy: a webhook created with --auth gets its
// ping through a server started with --egress-proxy, authenticated, and the CLI shows
// the method but never the secret.
func TestClientWebhookAuthThroughEgressProxy(t *testing.T) {
	t.Parallel()
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		proxied.Add(1)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	const token = "s3cret-t0ken"
	var authorized atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
	}))
	t.Cleanup(rc.Close)
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h", "--egress-proxy", proxy.URL)

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "authed", "--auth", "bearer:@"+tokenFile)
	id := field(t, out, "ID")
	if ping := field(t, out, "PING"); !strings.HasPrefix(ping, "delivered: HTTP 200") {
		t.Fatalf("ping of a bearer webhook through the proxy: %q, want delivered", ping)
	}
	if field(t, out, "AUTH") != "bearer" || authorized.Load() != 1 || proxied.Load() < 1 {
		t.Fatalf("AUTH %q, %d authorized requests, %d proxied; want bearer, 1, at least 1", field(t, out, "AUTH"), authorized.Load(), proxied.Load())
	}
	for _, args := range [][]string{{"webhooks", "get", id}, {"webhooks", "get", id, "-o", "json"}, {"webhooks", "list", "-o", "json"}} {
		if out := mustCLI(t, srv, testAdminKey, args...); strings.Contains(out, token) {
			t.Fatalf("herald %s shows the token:\n%s", strings.Join(args, " "), out)
		}
	}

	out = mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--auth", "basic:herald:pw")
	if got := field(t, out, "AUTH"); got != "basic, user herald" {
		t.Errorf("AUTH after --auth basic: %q", got)
	}

	certFile, keyFile := writeClientCert(t, dir, time.Now().Add(30*24*time.Hour))
	_, _, err := cli(t, srv, testAdminKey, "webhooks", "update", id, "--auth-mtls-cert", certFile, "--auth-mtls-key", keyFile)
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("mtls on an http url: %v, want the server's refusal naming https", err)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--url", "https://127.0.0.1:9/hook",
		"--auth-mtls-cert", certFile, "--auth-mtls-key", keyFile)
	if got := field(t, out, "AUTH"); !strings.HasPrefix(got, "mutual TLS, CN=herald-cli, certificate expires ") {
		t.Errorf("AUTH after mtls: %q", got)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--auth", "none", "--url", rc.URL)
	if got := field(t, out, "AUTH"); got != "none" {
		t.Errorf("AUTH after --auth none: %q", got)
	}

	for _, bad := range [][]string{
		{"--auth", "basic:nopassword"},
		{"--auth", "digest:x"},
		{"--auth", "bearer:x", "--auth-mtls-cert", certFile},
		{"--auth-mtls-cert", certFile},
	} {
		if _, _, err := cli(t, srv, testAdminKey, append([]string{"webhooks", "update", id}, bad...)...); err == nil {
			t.Errorf("webhooks update %q succeeded, want an error", bad)
		}
	}
}

// writeClientCert writes a client certificate for CN herald-cli that expires at
// notAfter, and its key, to files in dir.
func writeClientCert(t *testing.T, dir string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	cert, key := authtest.ClientCert(t, "herald-cli", notAfter)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, []byte(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
