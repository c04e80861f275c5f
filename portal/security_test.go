package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

// statsStore is the real store with its DeliveryStats watched: it counts the calls, can
// hold them at a gate, can fail them with an error, and records each call's deadline.
type statsStore struct {
	herald.Store
	calls   atomic.Int32
	entered chan struct{} // when set, each call sends on it first
	gate    chan struct{} // when set, each call waits for it to close
	err     error         // when set, each call returns it

	mu        sync.Mutex
	deadlines []time.Duration // how far off each call's deadline was (-1 for none)
}

func (s *statsStore) DeliveryStats(ctx context.Context, f herald.StatsFilter) (*herald.DeliveryStats, error) {
	s.calls.Add(1)
	s.mu.Lock()
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	s.deadlines = append(s.deadlines, left)
	s.mu.Unlock()
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.Store.DeliveryStats(ctx, f)
}

// withStats gives the portal (only) s around the env's store.
func withStats(s *statsStore) option {
	return func(c *envConfig) {
		s.Store = c.portal.Store
		c.portal.Store = s
	}
}

// rawGet sends a GET with b's cookies, safe from any goroutine: it returns the status,
// or an error instead of failing the test.
func (b *browser) rawGet(path string) (int, error) {
	resp, err := b.client.Get(b.e.srv.URL + path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestDashboardStatsAreSharedCachedAndBounded(t *testing.T) {
	t.Parallel()
	st := &statsStore{entered: make(chan struct{}, 100), gate: make(chan struct{})}
	e := newEnv(t, withStats(st))
	b := e.browser()
	b.signIn(e.adminKey)

	// Eight loads at once while the query is slow: one query, shared by all.
	const loads = 8
	codes := make(chan string, loads)
	for range loads {
		go func() {
			code, err := b.rawGet("/")
			codes <- fmt.Sprint(code, err)
		}()
	}
	<-st.entered
	time.Sleep(300 * time.Millisecond) // the others arrive and wait for the first
	close(st.gate)
	for range loads {
		if got := <-codes; got != "200 <nil>" {
			t.Errorf("a concurrent dashboard load: %s, want 200", got)
		}
	}
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("%d concurrent dashboard loads made %d stats queries, want 1", loads, n)
	}

	// Within 15 s the numbers are reused; after, read again.
	wantPage(t, "dashboard again", b.get("/"), http.StatusOK, "Attempts per minute")
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("a load within 15 s made a query: %d in all, want 1", n)
	}
	e.clock.advance(16 * time.Second)
	wantPage(t, "dashboard later", b.get("/"), http.StatusOK, "Attempts per minute")
	if n := st.calls.Load(); n != 2 {
		t.Fatalf("a load after 16 s: %d queries in all, want 2", n)
	}
	// Each tenant has its own numbers.
	id, key := e.addTenant("Team A")
	tb := e.browser()
	tb.signIn(key)
	wantPage(t, "a tenant's dashboard", tb.get("/"), http.StatusOK, "Attempts per minute")
	wantPage(t, "the admin's filter on it", b.get("/?tenant_id="+id), http.StatusOK, "Attempts per minute")
	if n := st.calls.Load(); n != 3 {
		t.Fatalf("after the tenant's and the admin's view of it: %d queries in all, want 3", n)
	}

	// Every query had a deadline, 15 s at most.
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, left := range st.deadlines {
		if left < 0 || left > 15*time.Second {
			t.Errorf("query %d: deadline %v away, want a deadline within 15 s", i+1, left)
		}
	}
}

func TestDashboardStoreErrorsHaveTheirStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want int
		text string
	}{
		{herald.Errorf(herald.EUNAVAILABLE, "the database is unreachable"), http.StatusServiceUnavailable, "the database is unreachable"},
		{herald.Errorf(herald.EINVALID, "delivery stats need a window"), http.StatusUnprocessableEntity, "delivery stats need a window"},
		{herald.Errorf(herald.ENOTFOUND, "no tenant"), http.StatusNotFound, "Not found"},
		{herald.Errorf(herald.ECONFLICT, "busy"), http.StatusConflict, "busy"},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "took too long"},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, "Something went wrong"},
	} {
		e := newEnv(t, withStats(&statsStore{err: c.err}))
		b := e.browser()
		b.signIn(e.adminKey)
		p := b.get("/")
		wantPage(t, c.err.Error(), p, c.want, c.text)
		if strings.Contains(p.body, "disk on fire") {
			t.Errorf("%v: the page shows an internal error's text", c.err)
		}
	}
}

// TestAdminIsTheConfiguredKey checks that the portal decides who is the admin by the
// admin key's hash, not by what the API answers, and fails closed.
func TestAdminIsTheConfiguredKey(t *testing.T) {
	t.Parallel()
	// Without the admin key's hash the portal has no admin, even for the key the API
	// serves the tenant list to.
	e := newEnv(t, func(c *envConfig) { c.portal.AdminKeyHash = nil })
	b := e.browser()
	p := b.do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}})
	if p.status == http.StatusSeeOther || len(b.client.Jar.Cookies(mustURL(t, e.srv.URL))) != 0 {
		t.Fatalf("signed in as the admin without the admin key's hash: %d to %q", p.status, p.header.Get("Location"))
	}
	// A tenant key still signs in, as its tenant.
	_, key := e.addTenant("Team A")
	b.signIn(key)
	wantPage(t, "the tenant's dashboard", b.get("/"), http.StatusOK, "Team A")
}

// TestAPIAnswerOutside2xxIsAnError checks that the portal takes no redirect of the API's
// for a success: the admin's tenant list answered with a redirect signs nobody in.
func TestAPIAnswerOutside2xxIsAnError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusFound, http.StatusNotModified, http.StatusMultipleChoices} {
		e := newEnv(t, func(c *envConfig) {
			c.wrapAPI = func(api http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/api/v1/tenants" {
						w.Header().Set("Location", "/elsewhere")
						w.WriteHeader(status)
						return
					}
					api.ServeHTTP(w, r)
				})
			}
		})
		b := e.browser()
		p := b.do(http.MethodPost, "/login", url.Values{"api_key": {e.adminKey}})
		if p.status == http.StatusSeeOther || len(b.client.Jar.Cookies(mustURL(t, e.srv.URL))) != 0 {
			t.Errorf("the API answered %d to the tenant list, and the admin was signed in: %d to %q",
				status, p.status, p.header.Get("Location"))
		}
	}
}

func TestSignInPageWithASession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.addTenant("Team A")
	b := e.browser()
	b.signIn(key)
	// The form, not a redirect, naming who is signed in; another key may sign in.
	p := b.get("/login?next=/webhooks")
	wantPage(t, "the sign-in page, signed in", p, http.StatusOK, "Signed in as Team A", `name="api_key"`, `href="/webhooks"`)
	b.signIn(e.adminKey)
	wantPage(t, "after switching keys", b.get("/login"), http.StatusOK, "Signed in as Admin")
	// Signed out, it is the plain form.
	p = e.browser().get("/login")
	wantPage(t, "the sign-in page, signed out", p, http.StatusOK, `name="api_key"`)
	if strings.Contains(p.body, "Signed in as") {
		t.Error("the signed-out sign-in page names someone")
	}
}

// TestPageCostsOneRequest checks that a portal page, however many API calls it makes,
// costs the key one request of its rate limit, and that the limit still holds.
func TestPageCostsOneRequest(t *testing.T) {
	t.Parallel()
	for _, admin := range []bool{false, true} {
		e := newEnv(t, func(c *envConfig) {
			// One a second, bursting to two: the sign-in and one page.
			c.api.RateLimits = httpapi.RateLimits{Tenant: 1, Admin: 1}
		})
		id, key := e.addTenant("Team A")
		time.Sleep(2 * time.Second) // the admin's bucket refills after addTenant
		for i := range 5 {
			e.addWebhookDirect(id, fmt.Sprintf("hook %d", i))
		}
		if admin {
			key = e.adminKey
		}
		b := e.browser()
		b.signIn(key)
		// Five webhooks: a dozen API calls, one request.
		wantPage(t, fmt.Sprintf("webhooks (admin %v)", admin), b.get("/webhooks"), http.StatusOK, "hook 4")
		// The bucket is empty now: the next page is refused, with the API's 429.
		wantPage(t, fmt.Sprintf("a page past the limit (admin %v)", admin), b.get("/webhooks"), http.StatusTooManyRequests, "too many requests")
	}
}

// addWebhookDirect creates a webhook of tenant straight in the store, so the API's rate
// limits are not spent on setting up.
func (e *env) addWebhookDirect(tenant, name string) {
	e.t.Helper()
	now := time.Now().UTC()
	wh := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: tenant, Name: name, URL: e.receiver.URL + "/hook",
		Events: []string{"*"}, Enabled: true, Format: herald.FormatStandard, CreatedAt: now, UpdatedAt: now,
		Secret: herald.NewSecret()}
	if err := e.store.CreateWebhook(context.Background(), wh); err != nil {
		e.t.Fatalf("create webhook: %v", err)
	}
}

func TestRotateGraceIsFromTheList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.addWebhook(e.adminKey, "", "Rotating")
	b := e.browser()
	b.signIn(e.adminKey)
	for _, hours := range []string{"-1", "2", "100000", "9223372036854775807", "abc", ""} {
		p := b.do(http.MethodPost, "/webhooks/"+hook+"/rotate-secret", url.Values{"grace_hours": {hours}})
		wantPage(t, "grace "+hours, p, http.StatusUnprocessableEntity, "from the list")
		if strings.Contains(p.body, "whsec_") {
			t.Errorf("grace %q: a secret was rotated", hours)
		}
	}
	for _, hours := range []string{"0", "1", "24", "72", "168"} {
		p := b.do(http.MethodPost, "/webhooks/"+hook+"/rotate-secret", url.Values{"grace_hours": {hours}})
		wantPage(t, "grace "+hours, p, http.StatusOK, "Secret rotated", "whsec_")
	}
}

func TestPagingPastTheEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addWebhook(e.adminKey, "", "Only one")
	b := e.browser()
	b.signIn(e.adminKey)
	for _, path := range []string{"/webhooks", "/deliveries", "/webhooks?tenant_id=default"} {
		for _, page := range []string{"9223372036854775807", "4611686018427387904", "99999999999999999999", "-5", "x"} {
			p := b.get(path + sep(path) + "page=" + page)
			wantPage(t, path+" page "+page, p, http.StatusOK)
			if strings.Contains(p.body, `rel="next"`) {
				t.Errorf("%s page %s links to a next page:\n%s", path, page, p.body)
			}
			if strings.Contains(p.body, "page=-") {
				t.Errorf("%s page %s links to a negative page", path, page)
			}
			if big := len(page) > 10; big && !strings.Contains(p.body, "Page 1000000 ") {
				t.Errorf("%s page %s: not shown as the last page there can be, 1000000", path, page)
			}
		}
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

func TestDeliveryPageShowsTheLastAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.addWebhook(e.adminKey, "", "Retried a lot")
	var del struct {
		ID string `json:"delivery_id"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hook+"/test", nil, &del, http.StatusOK)
	b := e.browser()
	b.signIn(e.adminKey)
	p := b.get("/deliveries/" + del.ID)
	wantPage(t, "one attempt", p, http.StatusOK, `id="attempt-1"`)
	if strings.Contains(p.body, "no longer kept") {
		t.Error("a delivery with one attempt says some are no longer kept")
	}
	for range 54 {
		e.api(e.adminKey, http.MethodPost, "/api/v1/deliveries/"+del.ID+"/retry", nil, nil, http.StatusOK)
	}
	p = b.get("/deliveries/" + del.ID)
	wantPage(t, "55 attempts", p, http.StatusOK, `id="attempt-55"`, `id="attempt-36"`, `id="attempt-3"`, `id="attempt-1"`,
		"32 of 55 attempts are no longer kept")
	if n := strings.Count(p.body, `class="card attempt"`); n != 23 {
		t.Errorf("the page renders %d attempts, want the 23 kept", n)
	}
	if strings.Contains(p.body, `id="attempt-35"`) || strings.Contains(p.body, `id="attempt-4"`) {
		t.Error("the page renders attempts that are no longer kept")
	}
	if first, last := strings.Index(p.body, `id="attempt-1"`), strings.Index(p.body, `id="attempt-55"`); first < last {
		t.Error("the page does not list attempts newest first")
	}
}

// TestWebhooksPageCalls checks the webhook list's success rates come without API calls
// per webhook: a page of twenty webhooks makes two calls (who the key is, the list).
func TestWebhooksPageCalls(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := newEnv(t, func(c *envConfig) {
		c.wrapAPI = func(api http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				api.ServeHTTP(w, r)
			})
		}
	})
	for i := range 20 {
		e.addWebhookDirect(herald.DefaultTenantID, fmt.Sprintf("hook %d", i))
	}
	hook := e.addWebhook(e.adminKey, "", "tested")
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hook+"/test", nil, nil, http.StatusOK)
	b := e.browser()
	b.signIn(e.adminKey)
	calls.Store(0)
	wantPage(t, "webhooks", b.get("/webhooks"), http.StatusOK, "hook 19", "100% <span class=\"muted\">of ")
	if n := calls.Load(); n != 2 {
		t.Errorf("the webhooks page made %d API calls, want 2", n)
	}
}

// TestAdminSessionEndsWithTheAdminKey: a session begun with the admin key is no session
// on a server given another admin key over the same database (the admin key changed).
func TestAdminSessionEndsWithTheAdminKey(t *testing.T) {
	t.Parallel()
	before := newEnv(t)
	after := newEnv(t, func(c *envConfig) { c.api.Store, c.portal.Store = before.store, before.store })
	b := before.browser()
	b.signIn(before.adminKey)
	wantPage(t, "the admin's session", b.get("/webhooks"), http.StatusOK)

	moved := after.browser()
	moved.client.Jar.SetCookies(mustURL(t, after.srv.URL), b.client.Jar.Cookies(mustURL(t, before.srv.URL)))
	if p := moved.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("the session of a former admin key: %d, want 303 to sign in", p.status)
	}
	// The session is gone from the store too: the first server no longer knows it.
	if p := b.get("/webhooks"); p.status != http.StatusSeeOther {
		t.Errorf("the session after a server with another admin key ended it: %d, want 303", p.status)
	}
}
