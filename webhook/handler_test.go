package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// frugallyEvent returns a Frugally delivery body of event id and type typ.
func frugallyEvent(id, typ, data string) string {
	return `{"id":"` + id + `","type":"` + typ + `","timestamp":"2025-03-10T19:00:00Z","team_id":"team_xyz","data":` + data + `}`
}

const scheduleData = `{"schedule_id":"sched_ghi789","name":"Dev Weekday Stop","paused_by":"user_abc"}`

// newHandler returns a Handler for frugally deliveries signed with vectorSecret, logging
// nowhere.
func newHandler(t *testing.T, d webhook.Deduper) *webhook.Handler {
	t.Helper()
	h := webhook.NewHandler(verifier(t, webhook.FormatFrugally, vectorSecret), d)
	h.Logger = slog.New(slog.DiscardHandler)
	return h
}

// signedRequest returns a request to /hook carrying body, signed with secret as Herald
// signs frugally deliveries.
func signedRequest(t *testing.T, secret, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	sig, err := webhook.Sign(webhook.FormatFrugally, secret, "", time.Now(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sig {
		r.Header[k] = v
	}
	return r
}

// deliver sends body, signed with secret as Herald signs frugally deliveries, to h and
// returns the status and response body.
func deliver(t *testing.T, h http.Handler, secret, body string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, secret, body))
	return w.Code, strings.TrimSpace(w.Body.String())
}

// rejection is one call to Handler.OnReject.
type rejection struct {
	path   string // the request's
	status int
	err    error
}

// recordRejections sets h.OnReject and returns a function that lists its calls so far.
func recordRejections(h *webhook.Handler) func() []rejection {
	var mu sync.Mutex
	var calls []rejection
	h.OnReject = func(r *http.Request, status int, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, rejection{r.URL.Path, status, err})
	}
	return func() []rejection {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
}

// recordDuplicates sets h.OnDuplicate and returns a function that lists the type and
// ID of the events it was called with so far.
func recordDuplicates(t *testing.T, h *webhook.Handler) func() []string {
	t.Helper()
	var mu sync.Mutex
	var calls []string
	h.OnDuplicate = func(ctx context.Context, e *webhook.Event) {
		if ctx == nil || e == nil {
			t.Errorf("OnDuplicate(%v, %v): want a context and an event", ctx, e)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, e.Type+" "+e.ID)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
}

// expect fails t unless status and body are want and a body containing wantBody.
func expect(t *testing.T, status int, body string, want int, wantBody string) {
	t.Helper()
	if status != want || !strings.Contains(body, wantBody) {
		t.Fatalf("answer = %d %q, want %d with %q", status, body, want, wantBody)
	}
}

func TestHandlerAnswers(t *testing.T) {
	t.Parallel()
	paused := frugallyEvent("evt_1", webhook.TypeSchedulePaused, scheduleData)
	tests := []struct {
		name     string
		request  func(t *testing.T) *http.Request
		status   int
		contains string
	}{
		{"GET", func(t *testing.T) *http.Request { return httptest.NewRequest(http.MethodGet, "/hook", nil) },
			http.StatusMethodNotAllowed, "POST"},
		{"unsigned", func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(paused))
		}, http.StatusUnauthorized, "no X-Frugally-Signature header"},
		{"wrong secret", func(t *testing.T) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(paused))
			r.Header.Set(webhook.HeaderFrugallySignature, webhook.SignSHA256(otherSecret, []byte(paused)))
			return r
		}, http.StatusUnauthorized, "signature does not match"},
		{"standard request", func(t *testing.T) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(paused))
			for k, v := range signed(t, webhook.FormatStandard, vectorSecret, paused, true) {
				r.Header[k] = v
			}
			return r
		}, http.StatusUnauthorized, "looks like the standard format"},
		{"too large", func(t *testing.T) *http.Request {
			big := frugallyEvent("evt_1", "ping", `"`+strings.Repeat("x", webhook.DefaultMaxBody)+`"`)
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(big))
			r.Header.Set(webhook.HeaderFrugallySignature, webhook.SignSHA256(vectorSecret, []byte(big)))
			return r
		}, http.StatusRequestEntityTooLarge, "allowed"},
		{"not an envelope", func(t *testing.T) *http.Request {
			b := `{"event":"ping"}`
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(b))
			r.Header.Set(webhook.HeaderFrugallySignature, webhook.SignSHA256(vectorSecret, []byte(b)))
			return r
		}, http.StatusBadRequest, `"id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, webhook.NewMemoryDeduper(0))
			called := false
			h.On("*", func(context.Context, *webhook.Event) error { called = true; return nil })
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.request(t))
			expect(t, w.Code, w.Body.String(), tt.status, tt.contains)
			if called {
				t.Error("the handler was called")
			}
			if strings.Contains(w.Body.String(), vectorSecret) || strings.Contains(w.Body.String(), otherSecret) {
				t.Errorf("the answer %q shows a secret", w.Body)
			}
			if tt.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", w.Header().Get("Allow"))
			}
		})
	}
}

func TestHandlerMisconfigured(t *testing.T) {
	t.Parallel()
	h := webhook.NewHandler(&webhook.Verifier{Format: webhook.FormatFrugally}, nil) // no secret
	h.Logger = slog.New(slog.DiscardHandler)
	status, body := deliver(t, h, vectorSecret, frugallyEvent("evt_1", "ping", `{}`))
	expect(t, status, body, http.StatusInternalServerError, "misconfigured")
}

// TestHandlerDedupe follows one delivery through Herald's retries: handled once,
// duplicates acknowledged, a failure forgotten so that the retry is handled.
func TestHandlerDedupe(t *testing.T) {
	t.Parallel()
	h := newHandler(t, webhook.NewMemoryDeduper(time.Hour))
	var calls atomic.Int32
	fail := true
	webhook.On(h, webhook.TypeSchedulePaused, func(_ context.Context, e *webhook.Event, p *webhook.SchedulePaused) error {
		calls.Add(1)
		if !strings.HasPrefix(e.ID, "evt_") || p.PausedBy != "user_abc" {
			t.Errorf("handler got %+v, %+v", e, p)
		}
		if fail {
			return errors.New("database down")
		}
		return nil
	})
	body := frugallyEvent("evt_1", webhook.TypeSchedulePaused, scheduleData)

	status, answer := deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusInternalServerError, "handler failed")
	if strings.Contains(answer, "database") {
		t.Errorf("the answer %q shows the handler's error", answer)
	}

	fail = false
	status, answer = deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusOK, "ok")
	status, answer = deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusOK, "duplicate")
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2 (a failure, then its retry)", n)
	}

	// Another event is not a duplicate.
	status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_2", webhook.TypeSchedulePaused, scheduleData))
	expect(t, status, answer, http.StatusOK, "ok")
	if n := calls.Load(); n != 3 {
		t.Errorf("handler called %d times, want 3", n)
	}
}

func TestHandlerNoDeduper(t *testing.T) {
	t.Parallel()
	h := newHandler(t, nil)
	var calls atomic.Int32
	h.On(webhook.TypeSchedulePaused, func(context.Context, *webhook.Event) error { calls.Add(1); return nil })
	body := frugallyEvent("evt_1", webhook.TypeSchedulePaused, scheduleData)
	for range 2 {
		status, answer := deliver(t, h, vectorSecret, body)
		expect(t, status, answer, http.StatusOK, "ok")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2: without a Deduper every delivery is handled", n)
	}
}

func TestHandlerRouting(t *testing.T) {
	t.Parallel()
	h := newHandler(t, webhook.NewMemoryDeduper(0))
	var got []string
	h.On(webhook.TypePing, func(_ context.Context, e *webhook.Event) error { got = append(got, "ping "+e.ID); return nil })

	status, answer := deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypeBudgetExceeded, `{}`))
	expect(t, status, answer, http.StatusOK, "ignored")
	status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_2", webhook.TypePing, `{}`))
	expect(t, status, answer, http.StatusOK, "ok")

	h.On("*", func(_ context.Context, e *webhook.Event) error { got = append(got, "* "+e.ID); return nil })
	status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_3", webhook.TypeBudgetExceeded, `{}`))
	expect(t, status, answer, http.StatusOK, "ok")
	status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_4", webhook.TypePing, `{}`))
	expect(t, status, answer, http.StatusOK, "ok")

	// An ignored event was not recorded: once handled, it is handled.
	status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypeBudgetExceeded, `{}`))
	expect(t, status, answer, http.StatusOK, "ok")

	want := []string{"ping evt_2", "* evt_3", "ping evt_4", "* evt_1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("handled %v, want %v", got, want)
	}
}

func TestHandlerUndecodableData(t *testing.T) {
	t.Parallel()
	d := webhook.NewMemoryDeduper(0)
	h := newHandler(t, d)
	webhook.On(h, webhook.TypeSchedulePaused, func(context.Context, *webhook.Event, *webhook.SchedulePaused) error {
		t.Error("the handler was called with undecodable data")
		return nil
	})
	status, answer := deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypeSchedulePaused, `{"schedule_id":7}`))
	expect(t, status, answer, http.StatusBadRequest, "SchedulePaused")
	if seen, _ := d.Seen(context.Background(), "frugally:evt_1"); seen {
		t.Error("the undecodable delivery was remembered: its retries would be skipped")
	}
}

func TestHandlerPanicForgets(t *testing.T) {
	t.Parallel()
	d := webhook.NewMemoryDeduper(0)
	h := newHandler(t, d)
	h.On(webhook.TypePing, func(context.Context, *webhook.Event) error { panic("boom") })
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the handler's panic did not reach net/http")
			}
		}()
		deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypePing, `{}`))
	}()
	if seen, _ := d.Seen(context.Background(), "frugally:evt_1"); seen {
		t.Error("the delivery whose handler panicked was remembered: its retries would be skipped")
	}
}

// TestHandlerInFlight sends a delivery again while the first is still being handled:
// the copy is told to retry later, not acknowledged as a duplicate, since the first may
// yet fail.
func TestHandlerInFlight(t *testing.T) {
	t.Parallel()
	h := newHandler(t, webhook.NewMemoryDeduper(0))
	rejections := recordRejections(h)
	duplicates := recordDuplicates(t, h)
	entered, release := make(chan struct{}), make(chan struct{})
	h.On(webhook.TypePing, func(context.Context, *webhook.Event) error {
		close(entered)
		<-release
		return nil
	})
	body := frugallyEvent("evt_1", webhook.TypePing, `{}`)
	done := make(chan int, 1)
	go func() {
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		r.Header.Set(webhook.HeaderFrugallySignature, webhook.SignSHA256(vectorSecret, []byte(body)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	select {
	case <-entered:
	case status := <-done:
		t.Fatalf("first delivery answered %d without reaching the handler", status)
	}
	status, answer := deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusConflict, "retry later")
	if got := rejections(); len(got) != 1 || got[0].status != http.StatusConflict || got[0].err == nil ||
		!strings.Contains(got[0].err.Error(), "evt_1 is being handled") {
		t.Errorf("OnReject calls = %v, want one with 409 and an error naming evt_1", got)
	}
	if got := duplicates(); len(got) != 0 {
		t.Errorf("OnDuplicate called with %v for a delivery being handled, which may yet fail", got)
	}
	close(release)
	if status := <-done; status != http.StatusOK {
		t.Errorf("first delivery answered %d, want 200", status)
	}
	status, answer = deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusOK, "duplicate")
	if got := duplicates(); !slices.Equal(got, []string{"ping evt_1"}) {
		t.Errorf("OnDuplicate calls = %v, want [ping evt_1]", got)
	}
	if got := rejections(); len(got) != 1 {
		t.Errorf("OnReject called %d times, want once (the 409)", len(got))
	}
}

// errRedisDown is the error of every failingDeduper call.
var errRedisDown = errors.New("redis down")

// failingDeduper fails every call.
type failingDeduper struct{}

func (failingDeduper) Seen(context.Context, string) (bool, error) { return false, errRedisDown }
func (failingDeduper) Forget(context.Context, string) error       { return errRedisDown }

func TestHandlerDeduperFails(t *testing.T) {
	t.Parallel()
	h := newHandler(t, failingDeduper{})
	h.On(webhook.TypePing, func(context.Context, *webhook.Event) error {
		t.Error("the handler was called though duplicates could not be checked")
		return nil
	})
	status, answer := deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypePing, `{}`))
	expect(t, status, answer, http.StatusInternalServerError, "duplicates")
}

func TestHandlerOnPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		on   func(h *webhook.Handler)
	}{
		{"empty type", func(h *webhook.Handler) { h.On("", func(context.Context, *webhook.Event) error { return nil }) }},
		{"nil function", func(h *webhook.Handler) { h.On(webhook.TypePing, nil) }},
		{"nil typed function", func(h *webhook.Handler) { webhook.On[webhook.Ping](h, webhook.TypePing, nil) }},
		{"twice", func(h *webhook.Handler) {
			webhook.On(h, webhook.TypePing, func(context.Context, *webhook.Event, *webhook.Ping) error { return nil })
			h.On(webhook.TypePing, func(context.Context, *webhook.Event) error { return nil })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("On did not panic")
				}
			}()
			tt.on(newHandler(t, nil))
		})
	}
}

// TestHandlerServer runs the Handler behind a real HTTP server.
func TestHandlerServer(t *testing.T) {
	t.Parallel()
	h := newHandler(t, webhook.NewMemoryDeduper(0))
	got := make(chan *webhook.Ping, 1)
	webhook.On(h, webhook.TypePing, func(_ context.Context, _ *webhook.Event, p *webhook.Ping) error {
		got <- p
		return nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	body := frugallyEvent("evt_1", webhook.TypePing, `{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}`)
	sig, err := webhook.Sign(webhook.FormatFrugally, vectorSecret, "", time.Now(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = sig
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	expect(t, resp.StatusCode, string(answer), http.StatusOK, "ok")
	if p := <-got; p.WebhookID != "wh_abc123" || p.Message != "Webhook endpoint verified" {
		t.Errorf("handler got %+v", p)
	}
}

// TestHandlerOnReject refuses a request of every kind and checks that OnReject is told
// the status answered and an error that says why.
func TestHandlerOnReject(t *testing.T) {
	t.Parallel()
	paused := frugallyEvent("evt_1", webhook.TypeSchedulePaused, scheduleData)
	errDatabaseDown := errors.New("database down")
	handlerFails := func(t *testing.T) *webhook.Handler {
		h := newHandler(t, webhook.NewMemoryDeduper(0))
		h.On("*", func(context.Context, *webhook.Event) error { return fmt.Errorf("insert: %w", errDatabaseDown) })
		return h
	}
	tests := []struct {
		name     string
		handler  func(t *testing.T) *webhook.Handler // nil: one whose "*" function succeeds
		request  func(t *testing.T) *http.Request
		status   int
		is       error  // what the error wraps; nil when no sentinel says it
		contains string // what the error's message says
	}{
		{name: "GET", request: func(t *testing.T) *http.Request { return httptest.NewRequest(http.MethodGet, "/hook", nil) },
			status: http.StatusMethodNotAllowed, contains: "POST"},
		{name: "unsigned", request: func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(paused))
		}, status: http.StatusUnauthorized, is: webhook.ErrNoSignature},
		{name: "wrong secret", request: func(t *testing.T) *http.Request { return signedRequest(t, otherSecret, paused) },
			status: http.StatusUnauthorized, is: webhook.ErrSignatureMismatch},
		{name: "standard request", request: func(t *testing.T) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(paused))
			for k, v := range signed(t, webhook.FormatStandard, vectorSecret, paused, true) {
				r.Header[k] = v
			}
			return r
		}, status: http.StatusUnauthorized, is: webhook.ErrWrongFormat},
		{name: "too large", request: func(t *testing.T) *http.Request {
			return signedRequest(t, vectorSecret, frugallyEvent("evt_1", "ping", `"`+strings.Repeat("x", webhook.DefaultMaxBody)+`"`))
		}, status: http.StatusRequestEntityTooLarge, is: webhook.ErrBodyTooLarge},
		{name: "misconfigured", handler: func(t *testing.T) *webhook.Handler {
			h := webhook.NewHandler(&webhook.Verifier{Format: webhook.FormatFrugally}, nil) // no secret
			h.Logger = slog.New(slog.DiscardHandler)
			return h
		}, request: func(t *testing.T) *http.Request { return signedRequest(t, vectorSecret, paused) },
			status: http.StatusInternalServerError, is: webhook.ErrInvalidSecret},
		{name: "not an envelope", request: func(t *testing.T) *http.Request { return signedRequest(t, vectorSecret, `{"event":"ping"}`) },
			status: http.StatusBadRequest, is: webhook.ErrInvalidPayload},
		{name: "undecodable data", handler: func(t *testing.T) *webhook.Handler {
			h := newHandler(t, webhook.NewMemoryDeduper(0))
			webhook.On(h, webhook.TypeSchedulePaused, func(context.Context, *webhook.Event, *webhook.SchedulePaused) error { return nil })
			return h
		}, request: func(t *testing.T) *http.Request {
			return signedRequest(t, vectorSecret, frugallyEvent("evt_1", webhook.TypeSchedulePaused, `{"schedule_id":7}`))
		}, status: http.StatusBadRequest, is: webhook.ErrInvalidPayload, contains: "SchedulePaused"},
		{name: "handler fails", handler: handlerFails,
			request: func(t *testing.T) *http.Request { return signedRequest(t, vectorSecret, paused) },
			status:  http.StatusInternalServerError, is: errDatabaseDown, contains: "insert: database down"},
		{name: "deduper fails", handler: func(t *testing.T) *webhook.Handler {
			h := newHandler(t, failingDeduper{})
			h.On("*", func(context.Context, *webhook.Event) error { return nil })
			return h
		}, request: func(t *testing.T) *http.Request { return signedRequest(t, vectorSecret, paused) },
			status: http.StatusInternalServerError, is: errRedisDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h *webhook.Handler
			if tt.handler != nil {
				h = tt.handler(t)
			} else {
				h = newHandler(t, webhook.NewMemoryDeduper(0))
				h.On("*", func(context.Context, *webhook.Event) error { return nil })
			}
			rejections := recordRejections(h)
			duplicates := recordDuplicates(t, h)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.request(t))
			if w.Code != tt.status {
				t.Fatalf("answered %d %q, want %d", w.Code, w.Body, tt.status)
			}

			got := rejections()
			if len(got) != 1 {
				t.Fatalf("OnReject called %d times (%v), want once", len(got), got)
			}
			r := got[0]
			if r.path != "/hook" || r.status != tt.status || r.err == nil {
				t.Fatalf("OnReject(%q, %d, %v), want the request to /hook, %d and an error", r.path, r.status, r.err, tt.status)
			}
			if tt.is != nil && !errors.Is(r.err, tt.is) {
				t.Errorf("OnReject's error %q does not wrap %q", r.err, tt.is)
			}
			if !strings.Contains(r.err.Error(), tt.contains) {
				t.Errorf("OnReject's error %q does not say %q", r.err, tt.contains)
			}
			if d := duplicates(); len(d) != 0 {
				t.Errorf("OnDuplicate called with %v for a refused request", d)
			}
		})
	}
}

// TestHandlerOnDuplicate follows one delivery through Herald's retries: OnDuplicate is
// called for the repeats of a handled delivery only, and OnReject for the failure only.
func TestHandlerOnDuplicate(t *testing.T) {
	t.Parallel()
	h := newHandler(t, webhook.NewMemoryDeduper(time.Hour))
	rejections := recordRejections(h)
	duplicates := recordDuplicates(t, h)
	var calls atomic.Int32
	fail := true
	h.On(webhook.TypeSchedulePaused, func(context.Context, *webhook.Event) error {
		calls.Add(1)
		if fail {
			return errors.New("database down")
		}
		return nil
	})
	body := frugallyEvent("evt_1", webhook.TypeSchedulePaused, scheduleData)

	status, answer := deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusInternalServerError, "handler failed")
	fail = false
	status, answer = deliver(t, h, vectorSecret, body) // the retry of a failure is handled
	expect(t, status, answer, http.StatusOK, "ok")
	if d := duplicates(); len(d) != 0 {
		t.Fatalf("OnDuplicate called with %v before any repeat of a handled delivery", d)
	}

	for range 2 {
		status, answer = deliver(t, h, vectorSecret, body)
		expect(t, status, answer, http.StatusOK, "duplicate")
	}
	want := []string{"schedule.paused evt_1", "schedule.paused evt_1"}
	if d := duplicates(); !slices.Equal(d, want) {
		t.Errorf("OnDuplicate calls = %v, want %v", d, want)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2 (a failure, then its retry)", n)
	}

	// An event no function handles is ignored, every time: never a duplicate.
	for range 2 {
		status, answer = deliver(t, h, vectorSecret, frugallyEvent("evt_2", webhook.TypePing, `{}`))
		expect(t, status, answer, http.StatusOK, "ignored")
	}
	if d := duplicates(); len(d) != 2 {
		t.Errorf("OnDuplicate calls = %v, want only the 2 above", d)
	}

	if r := rejections(); len(r) != 1 || r[0].status != http.StatusInternalServerError {
		t.Errorf("OnReject calls = %v, want one, for the 500", r)
	}
}

func TestHandlerOnDuplicateNoDeduper(t *testing.T) {
	t.Parallel()
	h := newHandler(t, nil)
	duplicates := recordDuplicates(t, h)
	h.On("*", func(context.Context, *webhook.Event) error { return nil })
	for range 2 {
		status, answer := deliver(t, h, vectorSecret, frugallyEvent("evt_1", webhook.TypePing, `{}`))
		expect(t, status, answer, http.StatusOK, "ok")
	}
	if d := duplicates(); len(d) != 0 {
		t.Errorf("OnDuplicate called with %v, want never: without a Deduper nothing is a duplicate", d)
	}
}
