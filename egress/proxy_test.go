package egress_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/egress"
)

func TestParseProxy(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://proxy:3128", "http://user:pw@10.0.0.1:3128/", "https://proxy.internal"} {
		if _, err := egress.ParseProxy(ok); err != nil {
			t.Errorf("ParseProxy(%q): %v, want it accepted", ok, err)
		}
	}
	for _, bad := range []string{"proxy:3128", "socks5://proxy:1080", "http://", "http://proxy:3128/path", "http://proxy:99999", "http://u:secret@proxy:3128?x=1"} {
		_, err := egress.ParseProxy(bad)
		if err == nil {
			t.Errorf("ParseProxy(%q) accepted it, want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseProxy(%q) error %q repeats the password", bad, err)
		}
	}
}

// TestProxyTransportChecksDestinationsFirst: a destination the guard refuses never
// reaches the proxy; one it allows, or a name only the proxy can resolve, does.
func TestProxyTransportChecksDestinationsFirst(t *testing.T) {
	t.Parallel()
	var seen atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusTeapot) // the proxy answers for the endpoint
	}))
	t.Cleanup(proxy.Close)
	u, err := egress.ParseProxy(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := &egress.Guard{Resolver: names}
	client := &http.Client{Transport: g.ProxyTransport(u)}
	for _, refused := range []string{"http://127.0.0.1/", "http://10.1.2.3:8080/", "http://169.254.169.254/latest", "http://localhost/", "http://evil.test/", "http://mixed.test/", "https://[::1]/"} {
		_, err := client.Get(refused)
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("GET %s through the proxy: %v, want a refusal", refused, err)
		}
	}
	if n := seen.Load(); n != 0 {
		t.Fatalf("the proxy got %d refused requests", n)
	}
	for _, allowed := range []string{"http://good.test/hook", "http://only-the-proxy-knows.test/"} {
		resp, err := client.Get(allowed)
		if err != nil || resp.StatusCode != http.StatusTeapot {
			t.Fatalf("GET %s through the proxy: %v, want the proxy's answer", allowed, err)
		}
		resp.Body.Close()
	}
	if n := seen.Load(); n != 2 {
		t.Fatalf("the proxy got %d requests, want 2", n)
	}
}
