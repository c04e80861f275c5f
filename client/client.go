package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// DefaultTimeout bounds one HTTP request of a Client made without WithHTTPClient. A
// webhook test or a delivery retry waits for an attempt, which the server lets take up
// to a minute.
const DefaultTimeout = 100 * time.Second

// DefaultMaxRetries is how many times a Client retries a call after its first try,
// unless WithMaxRetries says otherwise.
const DefaultMaxRetries = 3

// maxAnswer is the largest answer read: a page of 100 deliveries with their attempts'
// headers and response bodies stays well under it.
const maxAnswer = 64 << 20

// Client calls the REST API of one Herald server with one API key: the admin key or a
// tenant's key. It is safe for concurrent use.
type Client struct {
	// Webhooks manages webhooks: /api/v1/webhooks.
	Webhooks *WebhooksService
	// Events publishes events and reads them back: /api/v1/events.
	Events *EventsService
	// Deliveries reads and retries deliveries: /api/v1/deliveries.
	Deliveries *DeliveriesService
	// EventTypes reads and extends the event catalog: /api/v1/event-types.
	EventTypes *EventTypesService
	// Tenants manages tenants, their keys and their portal links: /api/v1/tenants.
	Tenants *TenantsService

	base       *url.URL
	key        string
	http       *http.Client
	userAgent  string
	maxRetries int
	maxWait    time.Duration
	backoff    func(retry int) time.Duration
}

// Option changes how New makes a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc, for its transport, proxy,
// TLS or timeout. The default is an http.Client with DefaultTimeout that follows no
// redirect.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithMaxRetries sets how many times a call is retried after its first try, when a retry
// is safe (see Client); 0 turns retries off.
func WithMaxRetries(n int) Option {
	return func(c *Client) { c.maxRetries = max(n, 0) }
}

// WithMaxRetryWait bounds how long the Client waits before one retry (default 30 s). A
// server asking, with Retry-After, for a longer wait gets its error returned at once
// rather than a caller kept waiting.
func WithMaxRetryWait(d time.Duration) Option {
	return func(c *Client) { c.maxWait = d }
}

// WithUserAgent sets the User-Agent of every request, in front of the Client's own
// (herald-go/<version>), so the server's logs say which program calls.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = strings.TrimSpace(ua + " " + c.userAgent) }
}

// New returns a Client of the Herald server at baseURL (http or https, like
// "https://herald.example.com") that authenticates with apiKey.
//
// It fails when baseURL is not an absolute http or https URL or apiKey is empty: both
// are mistakes better caught before the first call.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("herald client: base URL %q: want an http or https URL, like http://127.0.0.1:8080", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("herald client: base URL %q: want no query or fragment", baseURL)
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("herald client: no API key: pass the admin key or a tenant's key")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{
		base:       u,
		key:        apiKey,
		http:       &http.Client{Timeout: DefaultTimeout, CheckRedirect: refuseRedirect},
		userAgent:  "herald-go/" + herald.Version,
		maxRetries: DefaultMaxRetries,
		maxWait:    30 * time.Second,
		backoff:    backoff,
	}
	for _, o := range opts {
		o(c)
	}
	c.Webhooks = &WebhooksService{c}
	c.Events = &EventsService{c}
	c.Deliveries = &DeliveriesService{c}
	c.EventTypes = &EventTypesService{c}
	c.Tenants = &TenantsService{c}
	return c, nil
}

// refuseRedirect answers a redirect with itself: the API never redirects, and following
// one would carry the API key, and a publish, wherever it points (to http:// even).
// The 3xx comes back as an error that names where it pointed.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// BaseURL is the server's URL the Client calls, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// backoff is the wait before retry number retry (1 for the first) when the server
// did not say how long: 0.5 s, 1 s, 2 s … up to 8 s, each with up to a quarter more at
// random, so that many clients refused at once do not all come back at once.
func backoff(retry int) time.Duration {
	d := 500 * time.Millisecond << min(retry-1, 4)
	return d + rand.N(d/4+1)
}

// Response is the HTTP answer to a call: what CaptureResponse stores.
type Response struct {
	// StatusCode is the answer's HTTP status, like 201.
	StatusCode int
	// Header holds the answer's headers (X-Total-Count, Link, Retry-After …).
	Header http.Header
	// Body is the answer's body as the server sent it: the API's JSON.
	Body []byte
}

type responseKey struct{}

// CaptureResponse returns a context that makes a call store, in *resp, the last HTTP
// answer it got (after any retry), success or error: for a program that shows the API's
// JSON as sent, or reads a header the typed answer leaves out. Like
// net/http/httptrace, it travels in the context so that no method needs a parameter
// for it.
func CaptureResponse(ctx context.Context, resp *Response) context.Context {
	return context.WithValue(ctx, responseKey{}, resp)
}

// request is one API call to make.
type request struct {
	method string
	path   string     // like "/api/v1/webhooks/wh_1", segments escaped
	query  url.Values // nil for none
	body   any        // sent as JSON; nil for none
	header http.Header
	// replayable says the call may be sent again after a failure that may have
	// reached the server: it is idempotent (GET, PUT, PATCH, DELETE, reading a
	// secret), or made so by an Idempotency-Key or by ids the server dedupes on.
	replayable bool
}

// do makes the call, retrying it where that is safe, and decodes a 2xx answer's JSON
// into out (nil to skip). An answer outside 2xx is returned as an error wrapping the
// *herald.Error the server answered with.
//
// A retry is safe, and made, when the server refused the call before acting on it (429,
// or 503 with the store not taking writes, each after the Retry-After the server asked
// for), when the connection could not be made, and, for replayable calls, after any other
// transport failure (a reset, a timeout). Any other call is never sent twice.
func (c *Client) do(ctx context.Context, r *request, out any) (*Response, error) {
	target := c.BaseURL() + r.path // the path's segments are escaped already
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("herald client: encode the request: %w", err)
		}
	}
	for retry := 0; ; retry++ {
		resp, err := c.send(ctx, r, target, body)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if retry < c.maxRetries && (r.replayable || notSent(err)) {
				if werr := sleep(ctx, c.backoff(retry+1)); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, fmt.Errorf("%s %s on %s: %w", r.method, r.path, c.BaseURL(), err)
		}
		if rec, ok := ctx.Value(responseKey{}).(*Response); ok {
			*rec = *resp
		}
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			if out != nil && len(bytes.TrimSpace(resp.Body)) > 0 {
				if err := json.Unmarshal(resp.Body, out); err != nil {
					return resp, fmt.Errorf("%s %s: read the server's answer: %w", r.method, r.path, err)
				}
			}
			return resp, nil
		}
		apiErr := &StatusError{Status: resp.StatusCode, Err: herald.ErrorFromResponse(resp.StatusCode, resp.Body)}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode <= 399 && loc != "" {
			apiErr.Err.Details = "it redirects to " + loc + ", which is not followed: give that server's URL"
		}
		if retry < c.maxRetries && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if !ok {
				wait = c.backoff(retry + 1)
			}
			if wait <= c.maxWait {
				if werr := sleep(ctx, wait); werr != nil {
					return resp, werr
				}
				continue
			}
		}
		return resp, apiErr
	}
}

// send makes one HTTP request and reads its whole answer.
func (c *Client) send(ctx context.Context, r *request, target string, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, rd)
	if err != nil {
		return nil, err
	}
	for name, values := range r.header {
		req.Header[name] = values
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the method and URL are said by the caller
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("the answer is larger than %d MiB", maxAnswer>>20)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// notSent reports whether err says the request never reached the server: the
// connection was refused or its name did not resolve. Sending it again is safe
// whatever it does.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// retryAfter reads a Retry-After header, seconds or an HTTP date, as a wait from now.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		// Clamped, so that a huge value is a long wait, not an overflow to a short one.
		return time.Duration(min(max(s, 0), maxRetryAfter)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// maxRetryAfter is the longest Retry-After read, in seconds: a day, far beyond any wait
// a client takes.
const maxRetryAfter = 24 * 60 * 60

// sleep waits d, or less when ctx ends first, which it then returns.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// StatusError is an error answer: its HTTP status and the *herald.Error the server
// answered with, which errors.As finds through it. Its message says both, like
// `404 NOT_FOUND: webhook "wh_1" not found`.
type StatusError struct {
	// Status is the answer's HTTP status. It is the one Err.Code stands for, except
	// from something in front of Herald (a proxy answering 502, say).
	Status int
	// Err is the API's error: its code, message and details.
	Err *herald.Error
}

// Error is the status, the code and the server's message.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Err.Code, e.Err.Error())
}

// Unwrap returns the *herald.Error.
func (e *StatusError) Unwrap() error { return e.Err }

// newIdempotencyKey returns a random key that makes the retries of one call one call.
func newIdempotencyKey() string {
	return "hgo_" + crand.Text()
}

// pathOf joins segments under /api/v1, each escaped as one path segment.
func pathOf(segments ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// pageQuery adds the paging options to q.
func pageQuery(q url.Values, o ListOptions) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(o.PerPage))
	}
	return q
}

// ListOptions chooses a page of a list. Zero values leave the server's defaults (page 1
// of 20).
type ListOptions struct {
	// Page is the page number, from 1.
	Page int
	// PerPage is how many items a page holds, at most 100.
	PerPage int
}

// Page is one page of a list, newest first.
type Page[T any] struct {
	// Items are the page's items.
	Items []T
	// Total is how many items match across all pages (X-Total-Count); 0 when the
	// server did not say.
	Total int
	// Truncated says the page stopped before PerPage items at the server's byte budget
	// of a page: ask for the next page rather than counting.
	Truncated bool
}

// list makes a GET of a list and reads its page headers.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) (*Page[T], error) {
	p, _, err := listPage[T](ctx, c, path, q)
	return p, err
}

// listPage is list that also returns the answer's headers.
func listPage[T any](ctx context.Context, c *Client, path string, q url.Values) (*Page[T], http.Header, error) {
	p := &Page[T]{}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, query: q, replayable: true}, &p.Items)
	if err != nil {
		return nil, nil, err
	}
	p.Total, _ = strconv.Atoi(resp.Header.Get("X-Total-Count")) // absent: 0, as documented
	p.Truncated = resp.Header.Get("X-Page-Truncated") == "true"
	return p, resp.Header, nil
}

// all iterates over every item of a list from the page q asks for, 100 a page unless q
// says: it follows the server's rel="next" link where it sends one (a page can stop
// early at its byte budget), and counts pages where it does not.
func all[T any](ctx context.Context, c *Client, path string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		q := maps.Clone(q)
		if q == nil {
			q = url.Values{}
		}
		if q.Get("per_page") == "" {
			q.Set("per_page", "100")
		}
		page, _ := strconv.Atoi(q.Get("page"))
		page = max(page, 1)
		seen := 0
		for {
			p, header, err := listPage[T](ctx, c, path, q)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range p.Items {
				if !yield(item, nil) {
					return
				}
			}
			seen += len(p.Items)
			if len(p.Items) == 0 {
				return // nothing more, whatever the headers say
			}
			if next, ok := nextLink(header); ok {
				q.Del("page")
				q.Set("offset", next.Get("offset"))
				continue
			}
			if q.Has("offset") || seen >= p.Total {
				return
			}
			page++
			q.Set("page", strconv.Itoa(page))
		}
	}
}

// linkNext finds the target of a rel="next" Link.
var linkNext = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// nextLink returns the query of the answer's rel="next" link, when it has one with an
// offset.
func nextLink(h http.Header) (url.Values, bool) {
	for _, v := range h.Values("Link") {
		m := linkNext.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		u, err := url.Parse(m[1])
		if err == nil && u.Query().Get("offset") != "" {
			return u.Query(), true
		}
	}
	return nil, false
}

// Ptr returns a pointer to v: for the optional fields of an update, like
// WebhookUpdate{Enabled: client.Ptr(false)}.
func Ptr[T any](v T) *T { return &v }
