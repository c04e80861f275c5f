package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestUnconfirmedCommitKeepsItsMessage: a store's EUNAVAILABLE error that says what to do
// (a COMMIT that went unanswered: publish again with the same id) reaches the caller as
// a 503 with that message, even when the request's store timeout has passed meanwhile,
// rather than the generic "did not answer in time".
func TestUnconfirmedCommitKeepsItsMessage(t *testing.T) {
	t.Parallel()
	const msg = "the database did not confirm the commit: the event may be stored; publish it again with the same id or Idempotency-Key, which Herald deduplicates"
	err := fmt.Errorf("publish: %w: %w", &herald.Error{Code: herald.EUNAVAILABLE, Message: msg}, errors.New("commit: unexpected EOF"))
	ctx, cancel := context.WithTimeoutCause(context.Background(), time.Nanosecond, errStoreTimeout)
	defer cancel()
	<-ctx.Done()
	for name, ctx := range map[string]context.Context{"in time": context.Background(), "after the store timeout": ctx} {
		ae := toAPIError(ctx, slog.New(slog.DiscardHandler), err)
		if ae.status != http.StatusServiceUnavailable || ae.Code != herald.EUNAVAILABLE || ae.Message != msg {
			t.Errorf("%s: %d %s %q, want 503 %s %q", name, ae.status, ae.Code, ae.Message, herald.EUNAVAILABLE, msg)
		}
		if ae.GetHeaders().Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", name)
		}
	}
}

// TestErrorRoundTrip: each code, answered by the API, reads back with
// herald.ErrorFromResponse as the same code, message and details, under the status the
// code is answered with. An internal error reads back as the generic message the API
// gives in its place.
func TestErrorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, code := range herald.ErrorCodes() {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			sent := &herald.Error{Code: code, Message: "what went wrong with " + code, Details: "the field concerned"}
			want := *sent
			if code == herald.EINTERNAL {
				want = herald.Error{Code: herald.EINTERNAL, Message: "internal error"}
			}
			rec := httptest.NewRecorder()
			writeError(rec, toAPIError(context.Background(), slog.New(slog.DiscardHandler), fmt.Errorf("load: %w", sent)))
			if rec.Code != herald.ErrorStatus(code) {
				t.Errorf("status %d, want %d", rec.Code, herald.ErrorStatus(code))
			}
			got := herald.ErrorFromResponse(rec.Code, rec.Body.Bytes())
			if *got != want {
				t.Errorf("read back %+v from %s, want %+v", *got, rec.Body, want)
			}
			if !strings.HasPrefix(rec.Body.String(), `{"error":`) {
				t.Errorf("body %s, want the API's shape {\"error\", \"code\", \"details\"}", rec.Body)
			}
		})
	}
}
