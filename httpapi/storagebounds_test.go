package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/httpapi"
)

// maxHeadersOf returns n custom headers of size bytes in all (names plus values).
func maxHeadersOf(n, size int) map[string]string {
	h := map[string]string{}
	per := size / n
	for i := range n {
		name := fmt.Sprintf("X-Custom-%02d", i)
		h[name] = strings.Repeat("v", per-len(name))
	}
	return h
}

// TestCustomHeadersAreBoundedInSize: 32 headers of 30 KB each made every attempt store
// about a megabyte; custom headers now total at most 8 KiB, on create and on update.
func TestCustomHeadersAreBoundedInSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := maxHeadersOf(32, 32*30_000)
	r := e.do("POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "x", "url": hookURL, "headers": huge})
	b := checkError(t, r, http.StatusUnprocessableEntity, herald.EINVALID)
	if !strings.Contains(*b.Error, "8192") {
		t.Errorf("refusal %q does not state the 8192-byte limit", *b.Error)
	}
	over := maxHeadersOf(4, herald.MaxCustomHeaderBytes+4)
	checkError(t, e.do("POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "x", "url": hookURL, "headers": over}),
		http.StatusUnprocessableEntity, herald.EINVALID)

	w := e.createWebhook(e.adminKey, map[string]any{"headers": maxHeadersOf(32, herald.MaxCustomHeaderBytes)})
	if len(w.Headers) != 32 {
		t.Fatalf("a webhook with 32 headers of 8 KiB in all was stored with %d", len(w.Headers))
	}
	checkError(t, e.do("PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"headers": huge}),
		http.StatusUnprocessableEntity, herald.EINVALID)
	checkError(t, e.do("PUT", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"name": "x", "url": hookURL, "headers": huge}),
		http.StatusUnprocessableEntity, herald.EINVALID)
}

// hostileReceiver answers every request with 60 KB of response headers and a body
// larger than an attempt keeps, and remembers the headers of the last request.
type hostileReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
}

func newHostileReceiver(t *testing.T) *hostileReceiver {
	t.Helper()
	h := &hostileReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.last = r.Header.Clone()
		h.mu.Unlock()
		for i := range 60 {
			w.Header().Set(fmt.Sprintf("X-Filler-%02d", i), strings.Repeat("f", 1000))
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, strings.Repeat("b", 2*herald.MaxResponseBody))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostileReceiver) lastRequest() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// storedBytes is what an attempt stores of variable size, as herald.HeaderBytes counts.
func storedBytes(a herald.Attempt) int {
	return herald.HeaderBytes(a.RequestHeaders) + herald.HeaderBytes(a.ResponseHeaders) + len(a.ResponseBody) + len(a.Error)
}

// TestRetriesKeepADeliveryBounded is the worst case SECURITY.md states for a delivery:
// a webhook with the most custom headers allowed, a receiver answering 60 KB of headers
// and more body than is kept, and 26 manual retries. GET /api/v1/deliveries/{id} once
// returned 25 MB for 26 attempts; it now embeds the latest 5, the delivery keeps 23,
// and each stores at most herald.MaxStoredAttemptBytes.
func TestRetriesKeepADeliveryBounded(t *testing.T) {
	t.Parallel()
	recv := newHostileReceiver(t)
	e := newEnv(t, func(c *httpapi.Config) {
		c.Dispatcher = dispatch.New(dispatch.Config{Store: c.Store,
			Client: &http.Client{Transport: (&egress.Guard{AllowPrivate: true}).Transport()}})
	})
	custom := maxHeadersOf(32, herald.MaxCustomHeaderBytes)
	w := e.createWebhook(e.adminKey, map[string]any{"url": recv.URL + "/hook", "headers": custom})
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	if len(ds) != 1 {
		t.Fatalf("creating a webhook made %d deliveries, want its ping", len(ds))
	}
	id := ds[0].ID

	const retries = 26
	for i := range retries {
		e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+id+"/retry", e.adminKey, nil, nil)
		if i == 0 {
			// The request headers stored are the ones the receiver got.
			var d herald.Delivery
			e.must(http.StatusOK, "GET", "/api/v1/deliveries/"+id, e.adminKey, nil, &d)
			got, sent := d.Attempts[0].RequestHeaders, recv.lastRequest()
			for name, v := range got {
				if !slices.Equal(sent[name], v) {
					t.Errorf("stored request header %s = %q, the receiver got %q", name, v, sent[name])
				}
			}
			for name := range sent {
				if _, ok := got[name]; !ok && name != "Content-Length" && name != "Accept-Encoding" {
					t.Errorf("the receiver got header %s, which the attempt does not store", name)
				}
			}
		}
	}

	r := e.must(http.StatusOK, "GET", "/api/v1/deliveries/"+id, e.adminKey, nil, nil)
	var d herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/deliveries/"+id, e.adminKey, nil, &d)
	if d.AttemptCount != retries || len(d.Attempts) != herald.MaxEmbeddedAttempts || d.AttemptsDropped != retries-23 {
		t.Errorf("delivery: %d attempts, %d embedded, %d dropped; want %d, %d, %d",
			d.AttemptCount, len(d.Attempts), d.AttemptsDropped, retries, herald.MaxEmbeddedAttempts, retries-23)
	}
	// The stated bound of a delivery's read: its embedded attempts, each at most
	// MaxStoredAttemptBytes of text, and JSON around them.
	if bound := herald.MaxEmbeddedAttempts * herald.MaxStoredAttemptBytes * 3 / 2; len(r.body) > bound {
		t.Errorf("GET /api/v1/deliveries/{id} answered %d bytes, want at most %d", len(r.body), bound)
	}

	var all []herald.Attempt
	next := "/api/v1/deliveries/" + id + "/attempts?per_page=100"
	for next != "" {
		var page []herald.Attempt
		r := e.must(http.StatusOK, "GET", next, e.adminKey, nil, &page)
		if r.header.Get("X-Total-Count") != "23" {
			t.Errorf("X-Total-Count %q, want 23 attempts kept", r.header.Get("X-Total-Count"))
		}
		all = append(all, page...)
		next = nextLink(t, r)
	}
	total := 0
	for _, a := range all {
		n := storedBytes(a)
		total += n
		if n > herald.MaxStoredAttemptBytes {
			t.Errorf("attempt %d stores %d bytes, above the stated %d", a.Number, n, herald.MaxStoredAttemptBytes)
		}
		if herald.HeaderBytes(a.ResponseHeaders) > herald.MaxResponseHeaderBytes+100 || a.ResponseHeaders.Get(herald.TruncatedHeader) == "" {
			t.Errorf("attempt %d stores %d bytes of response headers, marker %q; want at most %d, marked cut",
				a.Number, herald.HeaderBytes(a.ResponseHeaders), a.ResponseHeaders.Get(herald.TruncatedHeader), herald.MaxResponseHeaderBytes)
		}
		if len(a.ResponseBody) != herald.MaxResponseBody {
			t.Errorf("attempt %d stores a body of %d bytes, want it cut at %d", a.Number, len(a.ResponseBody), herald.MaxResponseBody)
		}
	}
	if len(all) != 23 || all[0].Number != retries || all[len(all)-1].Number != 1 {
		t.Fatalf("attempts listed: %d, from %d to %d; want 23, newest (%d) first", len(all), all[0].Number, all[len(all)-1].Number, retries)
	}
	if bound := (herald.KeepFirstAttempts + herald.KeepLastAttempts) * herald.MaxStoredAttemptBytes; total > bound {
		t.Errorf("the delivery's attempts store %d bytes, above the stated %d", total, bound)
	}
	t.Logf("a delivery's %d attempts store %d bytes (bound %d); its read is %d bytes", len(all), total,
		(herald.KeepFirstAttempts+herald.KeepLastAttempts)*herald.MaxStoredAttemptBytes, len(r.body))
}

// nextLink is the target of a response's Link rel="next", or "".
func nextLink(t *testing.T, r response) string {
	t.Helper()
	link := r.header.Get("Link")
	if link == "" {
		return ""
	}
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start != 0 || end < 0 || !strings.HasSuffix(link, `rel="next"`) {
		t.Fatalf("Link %q, want <…>; rel=\"next\"", link)
	}
	return link[1:end]
}

// TestPagesStayUnderTheByteBudget: a page of 100 deliveries returned 50 MB. One event
// to 30 webhooks, each delivery with large attempts, makes pages far above 1 MiB; the
// lists and GET /api/v1/events/{id} stop at the budget and say so, and following the
// Link headers lists every delivery once.
func TestPagesStayUnderTheByteBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const webhooks = 30
	for range webhooks {
		e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}})
	}
	var pub struct {
		ID string `json:"id"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &pub)
	ds, total, err := e.store.Deliveries(ctx, herald.DeliveryFilter{EventID: pub.ID, PerPage: 100})
	if err != nil || total != webhooks {
		t.Fatalf("the event made %d deliveries (%v), want %d", total, err, webhooks)
	}
	big := http.Header{}
	for i := range 8 {
		big.Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("h", 1000))
	}
	for _, d := range ds {
		for range herald.MaxEmbeddedAttempts {
			a := herald.Attempt{DeliveryID: d.ID, At: time.Now().UTC(), StatusCode: 500, Error: strings.Repeat("e", 500),
				RequestHeaders: big, ResponseHeaders: big, ResponseBody: strings.Repeat("b", herald.MaxResponseBody)}
			if _, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "t", Attempt: a, Status: herald.StatusFailed}); err != nil {
				t.Fatalf("record attempt: %v", err)
			}
		}
	}
	const budget = 1 << 20
	// One delivery is ~110 KB here, so a page may pass the budget by less than one.
	const slack = 200 << 10

	r := e.must(http.StatusOK, "GET", "/api/v1/events/"+pub.ID, e.adminKey, nil, nil)
	var ev struct {
		Deliveries          []herald.Delivery `json:"deliveries"`
		DeliveriesTruncated bool              `json:"deliveries_truncated"`
		DeliveriesTotal     int               `json:"deliveries_total"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/events/"+pub.ID, e.adminKey, nil, &ev)
	if len(r.body) > budget+slack || !ev.DeliveriesTruncated || ev.DeliveriesTotal != webhooks || len(ev.Deliveries) == 0 {
		t.Errorf("GET /api/v1/events/{id}: %d bytes, %d deliveries of %d, truncated %v; want at most %d bytes, cut and saying so",
			len(r.body), len(ev.Deliveries), ev.DeliveriesTotal, ev.DeliveriesTruncated, budget+slack)
	}

	seen := map[string]int{}
	pages := 0
	next := "/api/v1/deliveries?per_page=100&event_id=" + pub.ID
	for next != "" {
		var page []herald.Delivery
		r := e.must(http.StatusOK, "GET", next, e.adminKey, nil, &page)
		pages++
		if len(r.body) > budget+slack {
			t.Errorf("page %d is %d bytes, above the budget of %d", pages, len(r.body), budget)
		}
		if r.header.Get("X-Total-Count") != fmt.Sprint(webhooks) {
			t.Errorf("page %d: X-Total-Count %q, want %d", pages, r.header.Get("X-Total-Count"), webhooks)
		}
		if next = nextLink(t, r); next != "" && r.header.Get("X-Page-Truncated") != "true" {
			t.Errorf("page %d of %d deliveries stopped before per_page without X-Page-Truncated", pages, len(page))
		}
		if !strings.Contains(next, "event_id="+pub.ID) && next != "" {
			t.Errorf("next page %q lost the filter", next)
		}
		for _, d := range page {
			seen[d.ID]++
		}
		if pages > webhooks {
			t.Fatal("the Link headers never end")
		}
	}
	if len(seen) != webhooks || pages < 2 {
		t.Errorf("following Link listed %d distinct deliveries in %d pages, want all %d in several", len(seen), pages, webhooks)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s listed %d times", id, n)
		}
	}
}

// TestOpenAPIDescribesPages: the description tells clients how pages end early and how
// to find the next, on every list of deliveries or attempts.
func TestOpenAPIDescribesPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var doc struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
			} `json:"parameters"`
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	e.must(http.StatusOK, "GET", "/openapi.json", "", nil, &doc)
	if d := doc.Info.Description; !strings.Contains(d, "X-Page-Truncated") || !strings.Contains(d, "rel=\"next\"") {
		t.Errorf("the API's description does not say how pages end: %q", d)
	}
	for _, path := range []string{"/api/v1/deliveries", "/api/v1/webhooks/{id}/deliveries", "/api/v1/deliveries/{id}/attempts"} {
		op := doc.Paths[path]["get"]
		for _, h := range []string{"X-Total-Count", "Link", "X-Page-Truncated"} {
			if _, ok := op.Responses["200"].Headers[h]; !ok {
				t.Errorf("GET %s does not describe its %s header", path, h)
			}
		}
		if !slices.ContainsFunc(op.Parameters, func(p struct {
			Name string `json:"name"`
		}) bool {
			return p.Name == "offset"
		}) {
			t.Errorf("GET %s does not describe its offset parameter", path)
		}
	}
}
