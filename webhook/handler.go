package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// Handler is an http.Handler that receives Herald's deliveries: it verifies each request,
// parses it, skips duplicates and calls the function registered for its event type.
//
// Its answers tell Herald what to do: 2xx means delivered, anything else means retry.
//
//   - 405 for a method other than POST; 413 for a body over the verifier's MaxBody.
//   - 401 when verification fails, with a short text body giving the reason (never a
//     secret); 500 if the verifier itself is misconfigured.
//   - 400 when the body is not the format's envelope, or the data does not decode into
//     the type an On handler asks for.
//   - 200 "ignored" for an event type with no handler: acknowledged, nothing to do, and
//     nothing marked.
//   - 200 "duplicate" for a delivery the Deduper has marked Done, and 409 while the same
//     delivery is being handled by this Handler: Herald retries later.
//   - 500 when the handler fails (or panics) or the Deduper's Seen does.
//   - 200 "ok" when the handler succeeds.
//
// The delivery is marked Done in the Deduper only after its handler succeeded, just
// before the 200 "ok": a failure, a 400 for undecodable data, a panic or a receiver that
// dies while handling leaves it unmarked, so Herald's retry is handled. If marking fails,
// the answer is 200 "ok" all the same, since the handling happened, and the error goes to
// the Logger: a later copy of the delivery may be handled again, which at-least-once
// delivery allows. So may a copy that reaches another instance sharing the Deduper while
// the first is still being handled: the 409 guards one Handler's deliveries only.
//
// The dedupe key is the format and the format's dedupe key (Event.ID): infraaudit's
// delivery_id, frugally's id, standard's webhook-id.
//
// Herald waits 10 seconds (15 for standard) for an answer: a handler that takes longer
// should queue the work and return.
//
// OnDuplicate and OnReject tell a receiver about the answers its own functions do not
// see, to log or count them. Set them before the Handler serves: like the On functions,
// they are called from the request's goroutine, so from several goroutines at once.
type Handler struct {
	// Logger receives a line for every request not answered 2xx: at Warn level for
	// the sender's faults, at Error level for the receiver's; and one at Error level
	// when the Deduper cannot mark a handled delivery Done (answered 200 all the same).
	// nil means slog.Default().
	Logger *slog.Logger

	// OnDuplicate, if set, is called with each verified delivery that the Deduper has
	// marked Done already, just before it is answered 200 "duplicate": it is not handled
	// again, and no On function is called for it. Use it to log or count Herald's
	// repeats.
	OnDuplicate func(ctx context.Context, e *Event)

	// OnReject, if set, is called for every request answered with a status other than
	// 2xx, just before the answer is written, with that status and the error that
	// caused it, never nil: a verification error wrapping one of the package's
	// sentinels (ErrSignatureMismatch, ErrTimestampOutOfTolerance, ErrBodyTooLarge, …),
	// a parse error wrapping ErrInvalidPayload, an error wrapping the one Deduper.Seen
	// returned, or the error an On function returned, as it returned it. The 405 for a
	// method other than POST and the 409 for a delivery being handled are told apart by
	// their status. Use it to log or count refusals; Logger logs them too. A panic in an
	// On function is not answered by the Handler: it goes on to net/http, and OnReject
	// is not called. A failure to mark a handled delivery Done is answered 200, so it is
	// not a refusal: only Logger is told.
	OnReject func(r *http.Request, status int, err error)

	verifier *Verifier
	deduper  Deduper

	mu       sync.RWMutex
	handlers map[string]func(context.Context, *Event) error

	inFlightMu sync.Mutex
	inFlight   map[string]bool // dedupe keys being handled
}

// NewHandler returns a Handler that verifies requests with v, skips deliveries d has
// marked Done, and marks Done in d each delivery it handled. d may be nil: every
// delivery is handled, retries included. It panics if v is nil.
func NewHandler(v *Verifier, d Deduper) *Handler {
	if v == nil {
		panic("webhook: NewHandler needs a Verifier")
	}
	return &Handler{
		verifier: v,
		deduper:  d,
		handlers: make(map[string]func(context.Context, *Event) error),
		inFlight: make(map[string]bool),
	}
}

// On registers fn for events of eventType. The event type "*" matches every type that
// has no handler of its own. A non-nil error from fn answers 500, so Herald retries; an
// error wrapping ErrInvalidPayload answers 400 (Herald retries those too).
//
// On panics if eventType is empty, fn is nil, or eventType already has a handler, as
// http.ServeMux does for a repeated pattern: these are programming errors.
func (h *Handler) On(eventType string, fn func(ctx context.Context, e *Event) error) {
	if eventType == "" || fn == nil {
		panic("webhook: On needs an event type and a function")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.handlers[eventType]; dup {
		panic("webhook: event type " + eventType + " already has a handler")
	}
	h.handlers[eventType] = fn
}

// On registers on h a handler for events of eventType whose data is decoded into a T
// (DecodeData) before fn is called, such as On(h, TypeDriftDetected, func(ctx, e, d
// *DriftDetected) error {…}). Data that does not decode into a T answers 400. It panics
// as Handler.On does.
func On[T any](h *Handler, eventType string, fn func(ctx context.Context, e *Event, data *T) error) {
	if fn == nil {
		panic("webhook: On needs an event type and a function")
	}
	h.On(eventType, func(ctx context.Context, e *Event) error {
		data, err := DecodeData[T](e)
		if err != nil {
			return err
		}
		return fn(ctx, e, &data)
	})
}

// ServeHTTP handles one delivery; Handler's doc lists its answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, r, http.StatusMethodNotAllowed, reason(errMethodNotAllowed), errMethodNotAllowed)
		return
	}
	body, err := h.verifier.VerifyRequest(r)
	if err != nil {
		status, msg := verifyFailure(err)
		h.reply(w, r, status, msg, err)
		return
	}
	e, err := Parse(h.verifier.Format, r.Header, body)
	if err != nil {
		h.reply(w, r, http.StatusBadRequest, reason(err), err)
		return
	}
	fn := h.handler(e.Type)
	if fn == nil {
		h.reply(w, r, http.StatusOK, "ignored: no handler for "+e.Type, nil)
		return
	}

	ctx := r.Context()
	key := string(e.Format) + ":" + e.ID
	if h.deduper != nil {
		if !h.start(key) {
			err := fmt.Errorf("webhook: delivery %s is being handled: retry later", e.ID)
			h.reply(w, r, http.StatusConflict, reason(err), err)
			return
		}
		defer h.finish(key)
		seen, err := h.deduper.Seen(ctx, key)
		if err != nil {
			h.reply(w, r, http.StatusInternalServerError, "cannot check for duplicates",
				fmt.Errorf("webhook: check for duplicates: %w", err))
			return
		}
		if seen {
			if h.OnDuplicate != nil {
				h.OnDuplicate(ctx, e)
			}
			h.reply(w, r, http.StatusOK, "duplicate", nil)
			return
		}
	}

	if err := fn(ctx, e); err != nil { // nothing is marked: Herald's retry is handled
		if errors.Is(err, ErrInvalidPayload) {
			h.reply(w, r, http.StatusBadRequest, reason(err), err)
		} else {
			h.reply(w, r, http.StatusInternalServerError, "handler failed", err)
		}
		return
	}
	if h.deduper != nil {
		// The request's context may be cancelled already (Herald gave up waiting), but
		// the handling happened: marking it Done must not be cancelled with it.
		if err := h.deduper.Done(context.WithoutCancel(ctx), key); err != nil {
			h.logger().ErrorContext(ctx, "webhook: cannot mark a handled delivery done: a copy sent again will be handled again",
				"key", key, "error", err, "remote", r.RemoteAddr)
		}
	}
	h.reply(w, r, http.StatusOK, "ok", nil)
}

// handler returns the function registered for eventType, or for "*", or nil.
func (h *Handler) handler(eventType string) func(context.Context, *Event) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if fn, ok := h.handlers[eventType]; ok {
		return fn
	}
	return h.handlers["*"]
}

// start marks key as being handled, or reports false if it already is.
func (h *Handler) start(key string) bool {
	h.inFlightMu.Lock()
	defer h.inFlightMu.Unlock()
	if h.inFlight[key] {
		return false
	}
	h.inFlight[key] = true
	return true
}

// finish unmarks key.
func (h *Handler) finish(key string) {
	h.inFlightMu.Lock()
	defer h.inFlightMu.Unlock()
	delete(h.inFlight, key)
}

// reply answers with status and a one-line text body. An answer that is not 2xx is a
// refusal caused by err: it is logged, and given to OnReject.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if status < 300 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg + "\n")) // the sender has gone if this fails: nothing to do
		return
	}
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	h.logger().Log(r.Context(), level, "webhook: delivery refused",
		"status", status, "reason", msg, "error", err, "remote", r.RemoteAddr)
	if h.OnReject != nil {
		h.OnReject(r, status, err)
	}
	http.Error(w, msg, status)
}

// logger returns h.Logger or slog.Default().
func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// errMethodNotAllowed refuses a request whose method is not POST.
var errMethodNotAllowed = errors.New("webhook: method not allowed: Herald sends POST")

// verifyFailure returns the status and body that answer a failed VerifyRequest.
func verifyFailure(err error) (int, string) {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, reason(err)
	case errors.Is(err, ErrInvalidSecret), errors.Is(err, ErrUnknownFormat):
		return http.StatusInternalServerError, "receiver misconfigured" // the details are in the log
	case errors.Is(err, ErrNoSignature), errors.Is(err, ErrWrongFormat), errors.Is(err, ErrMissingHeader),
		errors.Is(err, ErrTimestampOutOfTolerance), errors.Is(err, ErrSignatureMismatch):
		return http.StatusUnauthorized, reason(err)
	}
	return http.StatusBadRequest, "cannot read the body" // the request broke off
}

// reason returns err's message without the package prefix, to answer with.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "webhook: ")
}
