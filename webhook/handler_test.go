package webhook_test

import (
	"bytes"
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
// duplicates acknowledged, a failure not marked so that the retry is handled.
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

// recordingDeduper is a MemoryDeduper that lists the calls made to it, and to the On
// function that a test registers, in the order made.
type recordingDeduper struct {
	*webhook.MemoryDeduper

	mu    sync.Mutex
	calls []string
}

func (d *recordingDeduper) record(call string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
}

func (d *recordingDeduper) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *recordingDeduper) Seen(ctx context.Context, key string) (bool, error) {
	d.record("Seen " + key)
	return d.MemoryDeduper.Seen(ctx, key)
}

func (d *recordingDeduper) Done(ctx context.Context, key string) error {
	if ctx.Err() != nil {
		d.record("Done " + key + " with a cancelled context")
	} else {
		d.record("Done " + key)
	}
	return d.MemoryDeduper.Done(ctx, key)
}

// TestHandlerMarksDoneAfterSuccess checks that a delivery is marked Done only once its
// function succeeded, and never when its handling failed in any way: then Herald's
// retry must be handled.
func TestHandlerMarksDoneAfterSuccess(t *testing.T) {
	t.Parallel()
	const key = "frugally:evt_1"
	handled := []string{"Seen " + key, "handle", "Done " + key}
	failed := []string{"Seen " + key, "handle"}
	tests := []struct {
		name   string
		data   string                                       // the schedule.paused event's
		fn     func(cancelRequest context.CancelFunc) error // nil: no function for the type
		status int                                          // 0: the function panics
		calls  []string
	}{
		{"succeeds", scheduleData, func(context.CancelFunc) error { return nil }, http.StatusOK, handled},
		{"succeeds after Herald gave up waiting", scheduleData, func(cancel context.CancelFunc) error {
			cancel() // as net/http does when the client goes away
			return nil
		}, http.StatusOK, handled},
		{"fails", scheduleData, func(context.CancelFunc) error { return errors.New("database down") },
			http.StatusInternalServerError, failed},
		{"returns ErrInvalidPayload", scheduleData, func(context.CancelFunc) error {
			return fmt.Errorf("no such schedule: %w", webhook.ErrInvalidPayload)
		}, http.StatusBadRequest, failed},
		{"panics", scheduleData, func(context.CancelFunc) error { panic("boom") }, 0, failed},
		{"undecodable data", `{"schedule_id":7}`, func(context.CancelFunc) error { return nil },
			http.StatusBadRequest, []string{"Seen " + key}}, // no "handle": the function is not called
		{"ignored", scheduleData, nil, http.StatusOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &recordingDeduper{MemoryDeduper: webhook.NewMemoryDeduper(time.Hour)}
			h := newHandler(t, d)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			if tt.fn != nil {
				webhook.On(h, webhook.TypeSchedulePaused, func(context.Context, *webhook.Event, *webhook.SchedulePaused) error {
					d.record("handle")
					return tt.fn(cancel)
				})
			}
			r := signedRequest(t, vectorSecret, frugallyEvent("evt_1", webhook.TypeSchedulePaused, tt.data)).WithContext(ctx)
			w := httptest.NewRecorder()
			func() {
				defer func() {
					if p := recover(); (p != nil) != (tt.status == 0) {
						t.Errorf("ServeHTTP panicked with %v; want a panic: %v", p, tt.status == 0)
					}
				}()
				h.ServeHTTP(w, r)
			}()
			if tt.status != 0 && w.Code != tt.status {
				t.Errorf("answered %d %q, want %d", w.Code, w.Body, tt.status)
			}
			if got := d.list(); !slices.Equal(got, tt.calls) {
				t.Errorf("calls = %q, want %q", got, tt.calls)
			}
			wantSeen := slices.Contains(tt.calls, "Done "+key)
			if seen, err := d.MemoryDeduper.Seen(context.Background(), key); err != nil || seen != wantSeen {
				t.Errorf("afterwards Seen = %v, %v; want %v", seen, err, wantSeen)
			}
		})
	}
}

// TestHandlerRetryAfterCrash is what a Deduper shared by several instances (Redis, a
// database table) must get right: an instance whose handling of a delivery never
// succeeds, because the process is killed (a deploy, the OOM killer) or panics, answers
// Herald nothing, and Herald's retry, here to another instance, is handled, not skipped
// as a duplicate.
func TestHandlerRetryAfterCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash func(t *testing.T, h *webhook.Handler, body string) // delivers body to h, whose handling never succeeds
	}{
		{"killed while handling", func(t *testing.T, h *webhook.Handler, body string) {
			entered, killed, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
			h.On(webhook.TypePing, func(context.Context, *webhook.Event) error {
				close(entered)
				<-killed // a killed process never gets further; the test lets it go when it ends
				return errors.New("killed")
			})
			r := signedRequest(t, vectorSecret, body)
			go func() {
				defer close(done)
				h.ServeHTTP(httptest.NewRecorder(), r)
			}()
			t.Cleanup(func() { close(killed); <-done })
			select {
			case <-entered:
			case <-done:
				t.Fatal("the first instance answered without reaching its function")
			}
		}},
		{"panicked", func(t *testing.T, h *webhook.Handler, body string) {
			h.On(webhook.TypePing, func(context.Context, *webhook.Event) error { panic("out of memory") })
			defer func() {
				if recover() == nil {
					t.Error("the function's panic did not reach net/http")
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), signedRequest(t, vectorSecret, body))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			shared := webhook.NewMemoryDeduper(time.Hour)
			body := frugallyEvent("evt_1", webhook.TypePing, `{}`)
			tt.crash(t, newHandler(t, shared), body)

			second := newHandler(t, shared)
			duplicates := recordDuplicates(t, second)
			var calls atomic.Int32
			second.On(webhook.TypePing, func(context.Context, *webhook.Event) error { calls.Add(1); return nil })
			status, answer := deliver(t, second, vectorSecret, body)
			if status != http.StatusOK || answer != "ok" {
				t.Fatalf("Herald's retry to another instance answered %d %q, want 200 \"ok\": "+
					"the delivery the first instance never finished would be lost", status, answer)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the second instance's function called %d times, want 1", n)
			}
			if d := duplicates(); len(d) != 0 {
				t.Errorf("OnDuplicate called with %v for the retry of a delivery never handled", d)
			}

			// Handled now: a further copy is a duplicate.
			status, answer = deliver(t, second, vectorSecret, body)
			expect(t, status, answer, http.StatusOK, "duplicate")
			if n := calls.Load(); n != 1 {
				t.Errorf("the second instance's function called %d times, want 1", n)
			}
		})
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
func (failingDeduper) Done(context.Context, string) error         { return errRedisDown }

// doneFailsDeduper is a MemoryDeduper whose Done fails: it checks, and never marks.
type doneFailsDeduper struct{ *webhook.MemoryDeduper }

func (doneFailsDeduper) Done(context.Context, string) error { return errRedisDown }

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

// TestHandlerDoneFails checks that a delivery handled but not marked Done is answered
// 200 all the same (it was handled; answering 500 would have it handled again for
// sure), with the error in the log, not given to OnReject, and that its next copy is
// handled again: at least once.
func TestHandlerDoneFails(t *testing.T) {
	t.Parallel()
	h := newHandler(t, doneFailsDeduper{webhook.NewMemoryDeduper(0)})
	var log bytes.Buffer // ServeHTTP is called from this goroutine only
	h.Logger = slog.New(slog.NewTextHandler(&log, nil))
	rejections := recordRejections(h)
	duplicates := recordDuplicates(t, h)
	var calls atomic.Int32
	h.On(webhook.TypePing, func(context.Context, *webhook.Event) error { calls.Add(1); return nil })
	body := frugallyEvent("evt_1", webhook.TypePing, `{}`)

	status, answer := deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusOK, "ok")
	for _, want := range []string{"level=ERROR", "cannot mark a handled delivery done", "key=frugally:evt_1", "redis down"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q does not say %q", log.String(), want)
		}
	}
	if r := rejections(); len(r) != 0 {
		t.Errorf("OnReject called with %v for a delivery answered 200", r)
	}

	status, answer = deliver(t, h, vectorSecret, body)
	expect(t, status, answer, http.StatusOK, "ok")
	if n := calls.Load(); n != 2 {
		t.Errorf("function called %d times, want 2: a delivery never marked is handled again", n)
	}
	if d := duplicates(); len(d) != 0 {
		t.Errorf("OnDuplicate called with %v for a delivery never marked", d)
	}
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
