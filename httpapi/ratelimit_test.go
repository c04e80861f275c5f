package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

// withRateLimits sets the API's rate limits.
func withRateLimits(l httpapi.RateLimits) envOption {
	return func(c *httpapi.Config) { c.RateLimits = l }
}

// from sends a GET as key from the client address remote.
func (e *env) from(remote, path, key string) response {
	e.t.Helper()
	return e.fromCtx(context.Background(), remote, path, key)
}

// fromCtx is from with the request's context, as in-process callers (the portal) set it.
func (e *env) fromCtx(ctx context.Context, remote, path, key string) response {
	e.t.Helper()
	req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
	req.RemoteAddr = remote
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// requireLimited fails unless r is a 429 in the error shape with a Retry-After of whole
// seconds, and returns that.
func requireLimited(t *testing.T, r response) time.Duration {
	t.Helper()
	checkError(t, r, http.StatusTooManyRequests, herald.ERATELIMITED)
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

func TestTenantKeyRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withRateLimits(httpapi.RateLimits{Tenant: 1}))
	keyA, keyB := e.createTenant("team_a"), e.createTenant("team_b")

	// A burst of twice the rate, then 429.
	for i := range 2 {
		if r := e.from("192.0.2.1:1000", "/api/v1/webhooks", keyA); r.code != http.StatusOK {
			t.Fatalf("request %d within the burst: status %d: %s", i+1, r.code, r.body)
		}
	}
	wait := requireLimited(t, e.from("192.0.2.1:1000", "/api/v1/webhooks", keyA))

	// Another key, even from the same address, has its own bucket; the admin key is
	// unlimited by default; operations endpoints are never limited.
	for range 2 {
		if r := e.from("192.0.2.1:1000", "/api/v1/webhooks", keyB); r.code != http.StatusOK {
			t.Fatalf("tenant B while A is limited: status %d: %s", r.code, r.body)
		}
	}
	for range 20 {
		if r := e.from("192.0.2.1:1000", "/api/v1/webhooks", e.adminKey); r.code != http.StatusOK {
			t.Fatalf("admin key: status %d: %s", r.code, r.body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		want := http.StatusOK
		if path == "/metrics" {
			want = http.StatusUnauthorized // a tenant key never reads metrics; but it is not 429
		}
		for range 10 {
			if r := e.from("192.0.2.1:1000", path, keyA); r.code != want {
				t.Fatalf("GET %s while the key is limited: status %d, want %d", path, r.code, want)
			}
		}
	}

	// Retry-After is honest: after waiting it, the key is served again.
	time.Sleep(wait)
	if r := e.from("192.0.2.1:1000", "/api/v1/webhooks", keyA); r.code != http.StatusOK {
		t.Fatalf("after waiting Retry-After (%v): status %d: %s", wait, r.code, r.body)
	}
}

func TestAdminRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withRateLimits(httpapi.RateLimits{Admin: 2}))
	for i := range 4 {
		if r := e.from("192.0.2.1:1000", "/api/v1/tenants", e.adminKey); r.code != http.StatusOK {
			t.Fatalf("request %d within the burst of 4: status %d", i+1, r.code)
		}
	}
	requireLimited(t, e.from("192.0.2.1:1000", "/api/v1/tenants", e.adminKey))
}

func TestFailedAuthenticationRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withRateLimits(httpapi.RateLimits{AuthFailures: 1}))
	good := e.createTenant("team_a")
	for range 2 {
		r := e.from("198.51.100.7:1000", "/api/v1/webhooks", herald.NewAPIKey(herald.PrefixTenantKey))
		checkError(t, r, http.StatusUnauthorized, herald.EUNAUTHORIZED)
	}
	// The guessing address is refused now, for every unknown key it sends...
	wait := requireLimited(t, e.from("198.51.100.7:1000", "/api/v1/webhooks", herald.NewAPIKey(herald.PrefixTenantKey)))
	requireLimited(t, e.from("198.51.100.7:2000", "/api/v1/webhooks", "wrong"))
	// ...but valid keys from the same address (other users behind the same proxy) are
	// served, and cost the address nothing: the guesser is still refused after them.
	for i := range 5 {
		if r := e.from("198.51.100.7:3000", "/api/v1/webhooks", good); r.code != http.StatusOK {
			t.Fatalf("a good key %d from the guessing address: status %d: %s", i+1, r.code, r.body)
		}
		if r := e.from("198.51.100.7:3000", "/api/v1/tenants", e.adminKey); r.code != http.StatusOK {
			t.Fatalf("the admin key %d from the guessing address: status %d: %s", i+1, r.code, r.body)
		}
	}
	requireLimited(t, e.from("198.51.100.7:1000", "/api/v1/webhooks", "wrong"))
	// An IPv6 guesser is counted by its /64, so rotating addresses does not help.
	for i := range 2 {
		r := e.from("[2001:db8::"+strconv.Itoa(i+1)+"]:1000", "/api/v1/webhooks", "wrong")
		checkError(t, r, http.StatusUnauthorized, herald.EUNAUTHORIZED)
	}
	requireLimited(t, e.from("[2001:db8::99]:1000", "/api/v1/webhooks", "wrong"))
	// Another address has its own bucket.
	r := e.from("198.51.100.8:1000", "/api/v1/webhooks", "wrong")
	checkError(t, r, http.StatusUnauthorized, herald.EUNAUTHORIZED)
	// Retry-After is honest: after waiting it, an unknown key is answered 401 again.
	time.Sleep(wait)
	r = e.from("198.51.100.7:1000", "/api/v1/webhooks", "wrong")
	checkError(t, r, http.StatusUnauthorized, herald.EUNAUTHORIZED)
}

// TestRateLimitSpentIsNotChargedTwice checks the mark in-process callers set on the
// calls after a page's first: they cost the key's bucket nothing, even an empty one,
// and the mark neither lets an unknown key in nor spares the address's guess bucket.
func TestRateLimitSpentIsNotChargedTwice(t *testing.T) {
	t.Parallel()
	spent := herald.WithRateLimitSpent(context.Background())
	for _, admin := range []bool{false, true} {
		// A fresh server each, so creating the tenant costs the admin's bucket nothing.
		e := newEnv(t, withRateLimits(httpapi.RateLimits{Tenant: 1, AuthFailures: 1}))
		k := struct{ what, key, path string }{"tenant", e.createTenant("team_a"), "/api/v1/webhooks"}
		if admin {
			e = newEnv(t, withRateLimits(httpapi.RateLimits{Admin: 1, AuthFailures: 1}))
			k = struct{ what, key, path string }{"admin", e.adminKey, "/api/v1/tenants"}
		}
		for i := range 10 {
			if r := e.fromCtx(spent, "192.0.2.1:1000", k.path, k.key); r.code != http.StatusOK {
				t.Fatalf("%s: marked request %d: status %d: %s", k.what, i+1, r.code, r.body)
			}
		}
		// The burst of two is intact after ten marked requests...
		for i := range 2 {
			if r := e.from("192.0.2.1:1000", k.path, k.key); r.code != http.StatusOK {
				t.Fatalf("%s: request %d after the marked ones: status %d: %s", k.what, i+1, r.code, r.body)
			}
		}
		requireLimited(t, e.from("192.0.2.1:1000", k.path, k.key))
		// ...and a page that paid before its bucket emptied finishes its calls.
		if r := e.fromCtx(spent, "192.0.2.1:1000", k.path, k.key); r.code != http.StatusOK {
			t.Fatalf("%s: marked request with an empty bucket: status %d: %s", k.what, r.code, r.body)
		}
	}
	e := newEnv(t, withRateLimits(httpapi.RateLimits{AuthFailures: 1}))
	for range 2 {
		checkError(t, e.fromCtx(spent, "192.0.2.9:1000", "/api/v1/webhooks", "wrong"), http.StatusUnauthorized, herald.EUNAUTHORIZED)
	}
	requireLimited(t, e.fromCtx(spent, "192.0.2.9:1000", "/api/v1/webhooks", "wrong"))
}

func TestNoRateLimitsByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.createTenant("team_a")
	for i := range 300 {
		if r := e.from("192.0.2.1:1000", "/api/v1/webhooks", key); r.code != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, r.code)
		}
	}
}
