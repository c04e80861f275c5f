package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// script is an API stand-in that answers each request with the next of its steps and
// records what it was sent. It tests what only a misbehaving network or an overloaded
// server shows: the retry rules. What the API answers is tested against a real server
// (server_test.go).
type script struct {
	*httptest.Server
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	got   []*http.Request
}

func newScript(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) *script {
	t.Helper()
	s := &script{steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.got)
		s.got = append(s.got, r.Clone(context.Background()))
		s.mu.Unlock()
		if n >= len(s.steps) {
			t.Errorf("request %d (%s %s): the script has only %d steps", n+1, r.Method, r.URL, len(s.steps))
			http.Error(w, "no more steps", http.StatusTeapot)
			return
		}
		s.steps[n](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *script) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.got...)
}

// answer is a step that answers status with a JSON body and headers, name value pairs.
func answer(status int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// hangUp is a step that reads the request and closes the connection without an answer:
// the request reached the server, and its caller cannot know what it did.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err) // httptest's server always supports it
	}
	conn.Close()
}

const refused = `{"error":"the store is not taking writes","code":"UNAVAILABLE","details":""}`

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, "hk_test", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, key, want string }{
		{"ftp://example.com", "k", "want an http or https URL"},
		{"example.com:8080", "k", "want an http or https URL"},
		{"http://example.com?x=1", "k", "want no query"},
		{"http://example.com", " ", "no API key"},
	} {
		if _, err := client.New(tc.url, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): %v, want an error saying %q", tc.url, tc.key, err, tc.want)
		}
	}
	c, err := client.New("https://herald.example.com/base/", "k")
	if err != nil || c.BaseURL() != "https://herald.example.com/base" {
		t.Errorf("New with a path and a trailing slash: %v, base %q", err, c.BaseURL())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	s := newScript(t,
		answer(http.StatusTooManyRequests, `{"error":"slow down","code":"RATE_LIMITED"}`, "Retry-After", "1"),
		answer(http.StatusOK, `{"id":"wh_1","name":"n"}`))
	start := time.Now()
	wh, err := newClient(t, s.URL).Webhooks.Get(context.Background(), "wh_1")
	if err != nil || wh.ID != "wh_1" {
		t.Fatalf("Get after a 429: %v, %+v; want the webhook", err, wh)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("retried after %s, want the 1 s Retry-After asked for", took)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRefusalsAreRetriedEvenWhenNotIdempotent(t *testing.T) {
	t.Parallel()
	// 503 is answered before anything is done: a create is safe to send again.
	s := newScript(t,
		answer(http.StatusServiceUnavailable, refused, "Retry-After", "0"),
		answer(http.StatusCreated, `{"id":"wh_1","secret":"whsec_x"}`))
	wh, err := newClient(t, s.URL).Webhooks.Create(context.Background(), client.WebhookCreate{Name: "n", URL: "https://example.com"})
	if err != nil || wh.Secret != "whsec_x" {
		t.Fatalf("Create after a 503: %v, %+v", err, wh)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestNonIdempotentCallIsNotSentTwice(t *testing.T) {
	t.Parallel()
	s := newScript(t, hangUp, answer(http.StatusCreated, `{"id":"wh_2"}`))
	_, err := newClient(t, s.URL).Webhooks.Create(context.Background(), client.WebhookCreate{Name: "n", URL: "https://example.com"})
	if err == nil {
		t.Fatal("Create whose connection was dropped after sending: no error, want one: a retry could make a second webhook")
	}
	if !strings.Contains(err.Error(), "POST /api/v1/webhooks on "+s.URL) {
		t.Errorf("error %q does not say which call failed where", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestIdempotentCallIsRetriedAfterAHangUp(t *testing.T) {
	t.Parallel()
	s := newScript(t, hangUp, answer(http.StatusOK, `[]`))
	if _, err := newClient(t, s.URL).EventTypes.List(context.Background()); err != nil {
		t.Fatalf("List after a dropped connection: %v, want it retried", err)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestPublishKeepsItsIdempotencyKeyAcrossRetries(t *testing.T) {
	t.Parallel()
	s := newScript(t,
		hangUp,
		answer(http.StatusServiceUnavailable, refused, "Retry-After", "0"),
		answer(http.StatusOK, `{"id":"evt_1","deliveries":2}`), // the server had published it
		answer(http.StatusAccepted, `{"id":"evt_2","deliveries":1}`),
		answer(http.StatusAccepted, `{"id":"evt_3","deliveries":1}`))
	c := newClient(t, s.URL)
	res, err := c.Events.Publish(context.Background(), client.Event{Type: "t", Data: map[string]int{"n": 1}})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if res.ID != "evt_1" || res.Deliveries != 2 || !res.Duplicate {
		t.Errorf("Publish answered 200: %+v, want evt_1, 2 deliveries, a duplicate", res)
	}
	got := s.requests()
	if len(got) < 3 {
		t.Fatalf("%d requests, want 3 (a hang-up, a 503, an answer)", len(got))
	}
	key := got[0].Header.Get("Idempotency-Key")
	if key == "" {
		t.Fatal("Publish sent no Idempotency-Key")
	}
	for i, r := range got {
		if k := r.Header.Get("Idempotency-Key"); k != key {
			t.Errorf("try %d: Idempotency-Key %q, want the first try's %q", i+1, k, key)
		}
	}
	res, err = c.Events.Publish(context.Background(), client.Event{Type: "t", Data: map[string]int{"n": 2}})
	if err != nil || res.Duplicate {
		t.Fatalf("second Publish: %v, %+v; want a new event", err, res)
	}
	if k := s.requests()[len(s.requests())-1].Header.Get("Idempotency-Key"); k == key || k == "" {
		t.Errorf("second Publish: Idempotency-Key %q, want a new one", k)
	}
	_, err = c.Events.Publish(context.Background(), client.Event{Type: "t", Data: 1}, client.PublishOptions{IdempotencyKey: "mine"})
	if err != nil {
		t.Errorf("third Publish: %v", err)
	}
	if k := s.requests()[len(s.requests())-1].Header.Get("Idempotency-Key"); k != "mine" {
		t.Errorf("Publish with a key: Idempotency-Key %q, want mine", k)
	}
}

func TestBatchIsRetriedOnlyWhenEveryEventHasAnID(t *testing.T) {
	t.Parallel()
	ok := `{"results":[{"status":202,"id":"a","deliveries":1},{"status":422,"error":"data does not match","code":"VALIDATION_FAILED","details":"/x"}]}`
	s := newScript(t, hangUp, answer(http.StatusOK, ok), hangUp)
	c := newClient(t, s.URL)
	results, err := c.Events.PublishBatch(context.Background(), []client.Event{{ID: "a", Type: "t", Data: 1}, {ID: "b", Type: "t", Data: 2}})
	if err != nil {
		t.Fatalf("batch with ids after a hang-up: %v, want it retried", err)
	}
	if len(results) != 2 || results[0].Published == nil || results[0].Published.ID != "a" || results[1].Err == nil || results[1].Err.Code != herald.EINVALID {
		t.Errorf("results %+v, want a published and b refused with VALIDATION_FAILED", results)
	}
	if _, err := c.Events.PublishBatch(context.Background(), []client.Event{{Type: "t", Data: 1}}); err == nil {
		t.Error("batch without ids after a hang-up: no error, want one: a retry could publish it twice")
	}
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestTooLongARetryAfterIsReturned(t *testing.T) {
	t.Parallel()
	s := newScript(t, answer(http.StatusTooManyRequests, `{"error":"tenant rate limit","code":"RATE_LIMITED"}`, "Retry-After", "120"))
	start := time.Now()
	_, err := newClient(t, s.URL).Webhooks.Get(context.Background(), "wh_1")
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != 429 || herald.ErrorCode(err) != herald.ERATELIMITED {
		t.Fatalf("Get with Retry-After 120: %v, want the 429 RATE_LIMITED", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %s, want at once", took)
	}
}

func TestContextEndsTheWait(t *testing.T) {
	t.Parallel()
	s := newScript(t, answer(http.StatusServiceUnavailable, refused, "Retry-After", "20"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newClient(t, s.URL).Deliveries.Get(ctx, "dlv_1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get cancelled while waiting to retry: %v, want the context's error", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("returned after %s, want when the context ended", took)
	}
}

func TestErrorsAreTheAPIsOne(t *testing.T) {
	t.Parallel()
	s := newScript(t,
		answer(http.StatusNotFound, `{"error":"webhook \"wh_x\" not found","code":"NOT_FOUND","details":""}`),
		func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>no upstream</html>"))
		})
	c := newClient(t, s.URL, client.WithMaxRetries(0))
	_, err := c.Webhooks.Get(context.Background(), "wh_x")
	var he *herald.Error
	if !errors.As(err, &he) || he.Code != herald.ENOTFOUND || he.Message != `webhook "wh_x" not found` {
		t.Errorf("404: %#v, want the server's *herald.Error", err)
	}
	if want := `404 NOT_FOUND: webhook "wh_x" not found`; err == nil || err.Error() != want {
		t.Errorf("404: %v, want %q", err, want)
	}
	_, err = c.Webhooks.Get(context.Background(), "wh_x")
	if err != nil && strings.Contains(err.Error(), "hk_test") {
		t.Errorf("an error holds the API key: %v", err)
	}
	if want := "502 INTERNAL: the server answered 502 Bad Gateway: <html>no upstream</html>"; err == nil || err.Error() != want {
		t.Errorf("behind a failing proxy: %v, want %q", err, want)
	}
}

func TestRequestsCarryKeyAndEscapedIDs(t *testing.T) {
	t.Parallel()
	s := newScript(t, answer(http.StatusOK, `{"id":"a/b"}`, "X-Total-Count", "1"))
	var resp client.Response
	ctx := client.CaptureResponse(context.Background(), &resp)
	if _, err := newClient(t, s.URL, client.WithUserAgent("billing/2")).Tenants.Get(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	r := s.requests()[0]
	if r.URL.EscapedPath() != "/api/v1/tenants/a%2Fb" {
		t.Errorf("path %q, want the id as one escaped segment", r.URL.EscapedPath())
	}
	if r.Header.Get("Authorization") != "Bearer hk_test" || strings.Contains(r.URL.String(), "hk_test") {
		t.Errorf("Authorization %q, URL %s: want the key in the header only", r.Header.Get("Authorization"), r.URL)
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "billing/2 herald-go/") {
		t.Errorf("User-Agent %q, want the caller's then the client's", ua)
	}
	if resp.StatusCode != 200 || string(resp.Body) != `{"id":"a/b"}` || resp.Header.Get("X-Total-Count") != "1" {
		t.Errorf("captured %d %q %v, want the answer as sent", resp.StatusCode, resp.Body, resp.Header)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := newScript(t) // no step: any request that reaches it fails the test
	s := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	_, err := newClient(t, s.URL).Events.Publish(context.Background(), client.Event{Type: "t", Data: 1})
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "redirects to "+elsewhere.URL) {
		t.Errorf("a redirect: %v, want a 307 error naming where it points", err)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests elsewhere", n)
	}
}
