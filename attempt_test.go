package herald_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestDecideAttempt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	earlier := t0.Add(-6 * 24 * time.Hour)
	retryAt := t0.Add(time.Minute)
	enabled := herald.WebhookHealth{Enabled: true}
	failing := herald.WebhookHealth{Enabled: true, ConsecutiveFailures: 4, FailingSince: &earlier, LastDeliveryStatus: "failed"}
	ok := herald.Attempt{ID: "att_1", DeliveryID: "del_1", At: t0, StatusCode: 200, Success: true}
	bad := herald.Attempt{ID: "att_1", DeliveryID: "del_1", At: t0, StatusCode: 503}
	refused := herald.Attempt{ID: "att_1", DeliveryID: "del_1", At: t0, Error: "connection refused"}
	for _, tt := range []struct {
		name string
		r    herald.AttemptRecord
		st   herald.AttemptState
		// want
		keep         bool
		status       herald.DeliveryStatus
		next         *time.Time
		lastError    string
		release      bool
		failures     int
		since        *time.Time
		last         string
		disable      string
		failPending  string
		dropAttempts [2]int
	}{
		{name: "success resets health", r: herald.AttemptRecord{Owner: "p1", Attempt: ok},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 2, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusSuccess, release: true, failures: 0, since: nil, last: "success"},
		{name: "failure scheduled for retry says the HTTP status", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusPending, NextAttemptAt: retryAt},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: enabled},
			status: herald.StatusPending, next: &retryAt, lastError: "HTTP 503 Service Unavailable", release: true, failures: 1, since: &t0, last: "failed"},
		{name: "pending without a due time is due at the attempt", r: herald.AttemptRecord{Owner: "p1", Attempt: refused, Status: herald.StatusPending},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: enabled},
			status: herald.StatusPending, next: &t0, lastError: "connection refused", release: true, failures: 1, since: &t0, last: "failed"},
		{name: "no status given: failed", r: herald.AttemptRecord{Owner: "p1", Attempt: refused},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusFailed, lastError: "connection refused", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "lost lease keeps a success", r: herald.AttemptRecord{Owner: "p1", Attempt: refused, Status: herald.StatusPending, NextAttemptAt: retryAt},
			st:   herald.AttemptState{DeliveryStatus: herald.StatusSuccess, LeaseOwner: "p2", Webhook: enabled},
			keep: true, release: false, failures: 1, since: &t0, last: "failed"},
		{name: "lost lease, unleased: success kept, nothing to release but allowed", r: herald.AttemptRecord{Owner: "p1", Attempt: refused},
			st:   herald.AttemptState{DeliveryStatus: herald.StatusSuccess, Webhook: enabled},
			keep: true, release: true, failures: 1, since: &t0, last: "failed"},
		{name: "another owner's lease stays theirs", r: herald.AttemptRecord{Owner: "p1", Attempt: refused},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p2", Webhook: enabled},
			status: herald.StatusFailed, lastError: "connection refused", release: false, failures: 1, since: &t0, last: "failed"},
		{name: "disable reason given", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, DisableReason: "endpoint answered 410 Gone"},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: enabled},
			status: herald.StatusFailed, lastError: "HTTP 503 Service Unavailable", release: true, failures: 1, since: &t0, last: "failed",
			disable: "endpoint answered 410 Gone", failPending: "webhook disabled: endpoint answered 410 Gone"},
		{name: "consecutive failures reach the limit", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, DisableAfterFailures: 5},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusFailed, lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed",
			disable: "5 consecutive failed attempts", failPending: "webhook disabled: 5 consecutive failed attempts"},
		{name: "failing for long enough", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, DisableAfterFailingFor: 5 * 24 * time.Hour},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusFailed, lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed",
			disable: "no successful delivery for 5 days", failPending: "webhook disabled: no successful delivery for 5 days"},
		{name: "not failing long enough", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, DisableAfterFailingFor: 7 * 24 * time.Hour, DisableAfterFailures: 6},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusFailed, lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "disabled in flight: pending ones fail, not disabled again", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusPending, NextAttemptAt: retryAt, DisableAfterFailures: 1},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, LeaseOwner: "p1", Webhook: herald.WebhookHealth{DisabledReason: "by hand"}},
			status: herald.StatusPending, next: &retryAt, lastError: "HTTP 503 Service Unavailable", release: true, failures: 1, since: &t0, last: "failed",
			failPending: "webhook disabled: by hand"},
		{name: "the 24th attempt pushes out the 4th", r: herald.AttemptRecord{Owner: "p1", Attempt: ok},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusFailed, AttemptCount: 23, Webhook: enabled},
			status: herald.StatusSuccess, release: true, last: "success", dropAttempts: [2]int{4, 4}},
		{name: "manual retry before the scheduled one keeps it", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusPending, NextAttemptAt: t0.Add(time.Hour)},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 2, NextAttemptAt: &retryAt, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusPending, next: &retryAt, lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "manual retry that uses up the schedule keeps the scheduled one", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusFailed},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 7, NextAttemptAt: &retryAt, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusPending, next: &retryAt, lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "manual retry may bring the next attempt forward", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusPending, NextAttemptAt: t0.Add(time.Second)},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 2, NextAttemptAt: &retryAt, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusPending, next: ptr(t0.Add(time.Second)), lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "a due attempt is rescheduled by its own rules", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusPending, NextAttemptAt: t0.Add(time.Hour)},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 2, NextAttemptAt: &earlier, LeaseOwner: "p1", Webhook: failing},
			status: herald.StatusPending, next: ptr(t0.Add(time.Hour)), lastError: "HTTP 503 Service Unavailable", release: true, failures: 5, since: &earlier, last: "failed"},
		{name: "manual retry answered 410 Gone fails it anyway", r: herald.AttemptRecord{Owner: "p1", Attempt: bad, Status: herald.StatusFailed, DisableReason: "endpoint answered 410 Gone"},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusPending, AttemptCount: 2, NextAttemptAt: &retryAt, LeaseOwner: "p1", Webhook: enabled},
			status: herald.StatusFailed, lastError: "HTTP 503 Service Unavailable", release: true, failures: 1, since: &t0, last: "failed",
			disable: "endpoint answered 410 Gone", failPending: "webhook disabled: endpoint answered 410 Gone"},
		{name: "the 23rd attempt pushes out none", r: herald.AttemptRecord{Owner: "p1", Attempt: ok},
			st:     herald.AttemptState{DeliveryStatus: herald.StatusFailed, AttemptCount: 22, Webhook: enabled},
			status: herald.StatusSuccess, release: true, last: "success"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := herald.DecideAttempt(&tt.r, tt.st, t0.Add(time.Hour))
			if c.KeepOutcome != tt.keep || c.Status != tt.status || c.LastError != tt.lastError || c.ReleaseLease != tt.release {
				t.Errorf("delivery: keep %v, status %q, last error %q, release %v; want %v, %q, %q, %v",
					c.KeepOutcome, c.Status, c.LastError, c.ReleaseLease, tt.keep, tt.status, tt.lastError, tt.release)
			}
			if !sameTime(c.NextAttemptAt, tt.next) {
				t.Errorf("next attempt %v, want %v", c.NextAttemptAt, tt.next)
			}
			if c.AttemptCount != tt.st.AttemptCount+1 || c.Attempt.Number != c.AttemptCount || c.Outcome.Number != c.AttemptCount {
				t.Errorf("count %d, number %d, outcome %d; want all %d", c.AttemptCount, c.Attempt.Number, c.Outcome.Number, tt.st.AttemptCount+1)
			}
			if c.Webhook.ConsecutiveFailures != tt.failures || !sameTime(c.Webhook.FailingSince, tt.since) || c.Webhook.LastDeliveryStatus != tt.last {
				t.Errorf("health: %d failures since %v, last %q; want %d since %v, %q",
					c.Webhook.ConsecutiveFailures, c.Webhook.FailingSince, c.Webhook.LastDeliveryStatus, tt.failures, tt.since, tt.last)
			}
			if c.Disable != tt.disable || c.FailPending != tt.failPending {
				t.Errorf("disable %q, fail pending %q; want %q, %q", c.Disable, c.FailPending, tt.disable, tt.failPending)
			}
			if c.Outcome.WebhookDisabled != (tt.disable != "") || c.Outcome.DisabledReason != tt.disable {
				t.Errorf("outcome %+v, want disabled with reason %q", c.Outcome, tt.disable)
			}
			if tt.disable != "" && (c.Webhook.Enabled || c.Webhook.DisabledReason != tt.disable) {
				t.Errorf("webhook after disabling: enabled %v, reason %q", c.Webhook.Enabled, c.Webhook.DisabledReason)
			}
			if c.DropAttempts != tt.dropAttempts {
				t.Errorf("drop attempts %v, want %v", c.DropAttempts, tt.dropAttempts)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestDecideAttemptHealth: a webhook's health keeps the last error while it fails and
// when it last succeeded, and Webhook.Health says which state that makes it.
func TestDecideAttemptHealth(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	yesterday := t0.Add(-24 * time.Hour)
	st := herald.AttemptState{DeliveryStatus: herald.StatusPending, Webhook: herald.WebhookHealth{Enabled: true, LastSuccessAt: &yesterday}}
	bad := herald.Attempt{DeliveryID: "del_1", At: t0, StatusCode: 500}

	c := herald.DecideAttempt(&herald.AttemptRecord{Attempt: bad}, st, t0)
	if c.Webhook.LastError != "HTTP 500 Internal Server Error" || !sameTime(c.Webhook.LastSuccessAt, &yesterday) {
		t.Fatalf("after a 500: last error %q, last success %v; want the HTTP status and yesterday", c.Webhook.LastError, c.Webhook.LastSuccessAt)
	}
	w := herald.Webhook{Enabled: true, ConsecutiveFailures: c.Webhook.ConsecutiveFailures, LastError: c.Webhook.LastError,
		FailingSince: c.Webhook.FailingSince, LastSuccessAt: c.Webhook.LastSuccessAt}
	if h := w.Health(); h.State != herald.HealthFailing || h.ConsecutiveFailures != 1 || h.LastError != c.Webhook.LastError || !sameTime(h.FailingSince, &t0) {
		t.Errorf("health after a 500 = %+v, want failing once since %v with its error", h, t0)
	}
	w.Enabled = false
	if h := w.Health(); h.State != herald.HealthDisabled {
		t.Errorf("disabled webhook's state = %q, want disabled", h.State)
	}

	ok := herald.Attempt{DeliveryID: "del_1", At: t0.Add(time.Minute), StatusCode: 204, Success: true}
	c = herald.DecideAttempt(&herald.AttemptRecord{Attempt: ok}, herald.AttemptState{DeliveryStatus: herald.StatusPending, Webhook: c.Webhook}, t0)
	if c.Webhook.LastError != "" || !sameTime(c.Webhook.LastSuccessAt, &ok.At) {
		t.Errorf("after a success: last error %q, last success %v; want none and %v", c.Webhook.LastError, c.Webhook.LastSuccessAt, ok.At)
	}
	if h := (&herald.Webhook{Enabled: true}).Health(); h.State != herald.HealthHealthy {
		t.Errorf("new webhook's state = %q, want healthy", h.State)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// TestDecideAttemptStoresBoundedText: what an attempt stores is cut the same way for
// every store: the body at a character boundary, headers past their bound left out with
// a marker, text that no store can hold replaced.
func TestDecideAttemptStoresBoundedText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	huge := http.Header{"Content-Type": {"text/plain"}}
	for i := range 60 {
		huge.Set("X-Filler-"+string(rune('a'+i%26))+string(rune('a'+i/26)), strings.Repeat("v", 1000))
	}
	body := strings.Repeat("a", herald.MaxResponseBody-1) + "é" + "tail" // é straddles the cut
	a := herald.Attempt{DeliveryID: "del_1", StatusCode: 200, Success: true,
		Error:           strings.Repeat("e", 5000),
		ResponseBody:    body,
		RequestHeaders:  http.Header{"X-Bad\x00": {"a\xffb"}},
		ResponseHeaders: huge}
	c := herald.DecideAttempt(&herald.AttemptRecord{Attempt: a}, herald.AttemptState{Webhook: herald.WebhookHealth{Enabled: true}}, now)
	got := c.Attempt
	if got.ID == "" || !got.At.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("id %q at %v, want an id and now to the microsecond", got.ID, got.At)
	}
	if len(got.ResponseBody) != herald.MaxResponseBody-1 || strings.HasSuffix(got.ResponseBody, "\xc3") {
		t.Errorf("body cut to %d bytes ending %q, want %d, before the é", len(got.ResponseBody), got.ResponseBody[len(got.ResponseBody)-2:], herald.MaxResponseBody-1)
	}
	if len(got.Error) != herald.MaxAttemptError {
		t.Errorf("error of %d bytes, want cut to %d", len(got.Error), herald.MaxAttemptError)
	}
	marker := got.ResponseHeaders.Get(herald.TruncatedHeader)
	kept := got.ResponseHeaders.Clone()
	kept.Del(herald.TruncatedHeader)
	if n := herald.HeaderBytes(kept); n > herald.MaxResponseHeaderBytes || n < herald.MaxResponseHeaderBytes-1100 || marker == "" {
		t.Errorf("response headers of %d bytes kept, marker %q; want at most %d, nearly full, and a marker", n, marker, herald.MaxResponseHeaderBytes)
	}
	if got.ResponseHeaders.Get("Content-Type") != "text/plain" {
		t.Errorf("Content-Type was left out: %v", got.ResponseHeaders)
	}
	if v := got.RequestHeaders["X-Bad\uFFFD"]; len(v) != 1 || v[0] != "a\uFFFDb" {
		t.Errorf("request headers %q, want NUL and invalid UTF-8 replaced by U+FFFD", got.RequestHeaders)
	}
	if got.RequestHeaders.Get(herald.TruncatedHeader) != "" {
		t.Errorf("small request headers marked truncated: %v", got.RequestHeaders)
	}
	if a.ResponseHeaders.Get(herald.TruncatedHeader) != "" || len(a.ResponseBody) != len(body) {
		t.Error("DecideAttempt changed the caller's attempt")
	}
}

func TestAttemptsDropped(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ count, dropped int }{{0, 0}, {1, 0}, {23, 0}, {24, 1}, {100, 77}} {
		if got := herald.AttemptsDropped(tt.count); got != tt.dropped {
			t.Errorf("AttemptsDropped(%d) = %d, want %d", tt.count, got, tt.dropped)
		}
	}
}
