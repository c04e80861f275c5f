package herald

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The bounds of what an attempt stores. With them an attempt's stored text is at most
// MaxStoredAttemptBytes, whatever the receiver answers or the webhook sends.
const (
	// MaxResponseHeaderBytes bounds the response headers an attempt keeps (names plus
	// values); past it headers are left out and TruncatedHeader says so.
	MaxResponseHeaderBytes = 8 << 10
	// MaxRequestHeaderBytes bounds the request headers an attempt keeps: a webhook's
	// custom headers (MaxCustomHeaderBytes) and the ones Herald adds, with room to spare.
	MaxRequestHeaderBytes = 16 << 10
	// MaxAttemptError bounds an attempt's error message.
	MaxAttemptError = 1 << 10
	// MaxStoredAttemptBytes bounds the text one attempt stores: request and response
	// headers, each with its marker, the response body and the error, plus 1 KiB for the
	// fixed columns (ids, numbers, times, trace id).
	MaxStoredAttemptBytes = MaxRequestHeaderBytes + MaxResponseHeaderBytes + 2*truncatedMarkerBytes +
		MaxResponseBody + MaxAttemptError + 1<<10
)

// MaxCustomHeaderBytes bounds a webhook's custom headers, names plus values.
const MaxCustomHeaderBytes = 8 << 10

// TruncatedHeader is the header an attempt's stored request or response headers carry
// when some were left out to stay under their bound. Its value says how many bytes of
// headers were kept of how many.
const TruncatedHeader = "X-Herald-Truncated"

// truncatedMarkerBytes bounds the size of the TruncatedHeader entry.
const truncatedMarkerBytes = 64

// Attempts kept per delivery: the first KeepFirstAttempts and the last KeepLastAttempts.
// A delivery retried by hand without end would otherwise grow without end; the first
// attempts say how it began, the last ones how it stands. The attempts in between are
// deleted as the attempt that pushes them out is recorded, and counted in
// Delivery.AttemptsDropped. Attempt numbers never change, so a gap in them shows where.
const (
	KeepFirstAttempts = 3
	KeepLastAttempts  = 20
)

// MaxEmbeddedAttempts is how many attempts, the latest, a delivery read embeds in
// Delivery.Attempts; the rest are read page by page (Store.Attempts).
const MaxEmbeddedAttempts = 5

// AttemptsDropped is how many attempts of a delivery with attemptCount attempts are no
// longer stored: every one but the first KeepFirstAttempts and last KeepLastAttempts.
func AttemptsDropped(attemptCount int) int {
	return max(0, attemptCount-KeepFirstAttempts-KeepLastAttempts)
}

// HeaderBytes is the size of h as bounds count it: the length of every name and value.
func HeaderBytes(h http.Header) int {
	n := 0
	for name, values := range h {
		for _, v := range values {
			n += len(name) + len(v)
		}
	}
	return n
}

// CapHeaders returns h with at most limit bytes of names and values (see HeaderBytes),
// made storable (see Storable). It keeps values in the order of their names, sorted,
// and leaves out any that does not fit, so a huge header cannot push out the small
// ones after it. When it leaves one out it adds TruncatedHeader, saying how much was
// kept. The result is never nil.
func CapHeaders(h http.Header, limit int) http.Header {
	out := make(http.Header, len(h))
	kept, total := 0, 0
	for _, name := range slices.Sorted(maps.Keys(h)) {
		clean := Storable(name)
		for _, v := range h[name] {
			v = Storable(v)
			size := len(clean) + len(v)
			total += size
			if kept+size > limit {
				continue
			}
			kept += size
			out[clean] = append(out[clean], v)
		}
	}
	if kept < total {
		out[TruncatedHeader] = []string{fmt.Sprintf("kept %d of %d bytes", kept, total)}
	}
	return out
}

// Storable replaces what no store can hold as text, invalid UTF-8 and NUL, with
// U+FFFD, so that a hostile response cannot make its own attempt unrecordable and
// every store keeps the same text.
func Storable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// Truncate cuts s to at most n bytes, at the start of a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// WebhookHealth is the part of a webhook an attempt changes.
type WebhookHealth struct {
	Enabled             bool
	DisabledReason      string
	ConsecutiveFailures int
	FailingSince        *time.Time // nil unless failing
	LastDeliveryStatus  string     // "success", "failed" or ""
	LastError           string     // the latest failed attempt's error while failing
	LastSuccessAt       *time.Time // the latest successful attempt's time
}

// AttemptState is what a store holds, when an attempt is recorded, of its delivery and
// the delivery's webhook.
type AttemptState struct {
	DeliveryStatus DeliveryStatus
	AttemptCount   int
	LeaseOwner     string // "" when nobody holds a lease
	// NextAttemptAt is when the delivery's next attempt was due; nil once finished.
	NextAttemptAt *time.Time
	Webhook       WebhookHealth
}

// AttemptChange is what recording one attempt writes, as DecideAttempt decides it. A
// store persists it as it is, in one transaction.
type AttemptChange struct {
	// Attempt is the attempt as stored: with an id, a time and its number, its text
	// made storable and cut to the bounds above.
	Attempt Attempt

	// KeepOutcome says the delivery succeeded already and the recorder no longer
	// holds its lease: only its AttemptCount and UpdatedAt change. Otherwise it takes
	// Status, NextAttemptAt and LastError.
	KeepOutcome   bool
	Status        DeliveryStatus
	NextAttemptAt *time.Time // when Status is pending
	LastError     string
	// ReleaseLease says the delivery's lease is dropped; false when another owner
	// holds it now, for them to drop.
	ReleaseLease bool
	// AttemptCount is the delivery's new count, which is also the attempt's number.
	AttemptCount int
	// DropAttempts, when not zero, are the numbers of the attempts to delete, from
	// DropAttempts[0] to DropAttempts[1] inclusive: those no longer among the first
	// KeepFirstAttempts or the last KeepLastAttempts.
	DropAttempts [2]int

	// Webhook is the webhook's health after the attempt.
	Webhook WebhookHealth
	// Disable, when set, is why this attempt disables the webhook.
	Disable string
	// FailPending, when set, is the last error the webhook's pending deliveries fail
	// with: it was disabled by this attempt, or while the attempt was in flight (a retry
	// scheduled now would wait for it to be enabled).
	FailPending string
	// Outcome is what RecordAttempt returns.
	Outcome AttemptOutcome
}

// DecideAttempt applies the rules of AttemptRecord to the state st read before it: the
// delivery's new status, due time and last error, the webhook's health and whether the
// attempt disables it, and the attempt as it is stored. now stands in for an attempt
// without a time.
func DecideAttempt(r *AttemptRecord, st AttemptState, now time.Time) AttemptChange {
	c := AttemptChange{Attempt: storedAttempt(r.Attempt, now)}
	a := &c.Attempt
	c.AttemptCount = st.AttemptCount + 1
	a.Number = c.AttemptCount
	c.Outcome.Number = a.Number
	if from, to := KeepFirstAttempts+1, a.Number-KeepLastAttempts; to >= from {
		c.DropAttempts = [2]int{from, to}
	}

	held := st.LeaseOwner != "" && st.LeaseOwner == r.Owner
	c.ReleaseLease = st.LeaseOwner == "" || held
	if !held && st.DeliveryStatus == StatusSuccess {
		c.KeepOutcome = true
	} else {
		c.Status = r.Status
		if c.Status == "" {
			c.Status = StatusFailed
			if a.Success {
				c.Status = StatusSuccess
			}
		}
		if c.Status == StatusPending {
			due := r.NextAttemptAt
			if due.IsZero() {
				due = a.At
			}
			due = due.UTC().Truncate(time.Microsecond)
			c.NextAttemptAt = &due
		}
		if scheduled := st.NextAttemptAt; keepsSchedule(r, st, a) {
			// An attempt made before the retry already scheduled (a manual retry)
			// neither delays that retry nor, by using up the schedule, cancels it.
			c.Status, c.NextAttemptAt = StatusPending, scheduled
		}
		if c.Status != StatusSuccess {
			c.LastError = AttemptError(a)
		}
	}

	h := st.Webhook
	if a.Success {
		h.LastDeliveryStatus = "success"
		h.ConsecutiveFailures, h.FailingSince, h.LastError = 0, nil, ""
		at := a.At
		h.LastSuccessAt = &at
	} else {
		h.LastDeliveryStatus = "failed"
		h.ConsecutiveFailures++
		h.LastError = AttemptError(a)
		if h.FailingSince == nil {
			since := a.At
			h.FailingSince = &since
		}
	}
	if st.Webhook.Enabled {
		switch {
		case r.DisableReason != "":
			c.Disable = r.DisableReason
		case r.DisableAfterFailures > 0 && h.ConsecutiveFailures >= r.DisableAfterFailures:
			c.Disable = fmt.Sprintf("%d consecutive failed attempts", h.ConsecutiveFailures)
		case r.DisableAfterFailingFor > 0 && h.FailingSince != nil && a.At.Sub(*h.FailingSince) >= r.DisableAfterFailingFor:
			c.Disable = "no successful delivery for " + HumanDuration(r.DisableAfterFailingFor)
		}
	}
	switch {
	case c.Disable != "":
		h.Enabled, h.DisabledReason = false, c.Disable
		c.FailPending = DisabledError(c.Disable)
		c.Outcome.WebhookDisabled, c.Outcome.DisabledReason = true, c.Disable
	case !st.Webhook.Enabled:
		c.FailPending = DisabledError(st.Webhook.DisabledReason)
	}
	c.Webhook = h
	return c
}

// keepsSchedule reports whether the failed attempt a, made while the delivery was pending
// with a retry scheduled after a began, leaves that retry as it was: when the attempt's
// own rules would schedule the next one later, or give up, save for a webhook it
// disables. A scheduled attempt was due when it began, so this holds only for attempts
// made out of turn (a manual retry).
func keepsSchedule(r *AttemptRecord, st AttemptState, a *Attempt) bool {
	scheduled := st.NextAttemptAt
	if a.Success || r.DisableReason != "" || st.DeliveryStatus != StatusPending ||
		scheduled == nil || !scheduled.After(a.At) {
		return false
	}
	return r.Status == StatusFailed || r.Status == "" || r.NextAttemptAt.After(*scheduled)
}

// AttemptError is what went wrong in a failed attempt, as a delivery's and a webhook's
// last error show it: its error, or else its HTTP status ("HTTP 500 Internal Server
// Error"); "" for an attempt that succeeded.
func AttemptError(a *Attempt) string {
	if a.Success {
		return ""
	}
	if a.Error != "" || a.StatusCode == 0 {
		return a.Error
	}
	return fmt.Sprintf("HTTP %d %s", a.StatusCode, http.StatusText(a.StatusCode))
}

// storedAttempt is a as it is stored: with an id and a time (now, UTC, to the
// microsecond, as stores keep times), its text storable and within bounds.
func storedAttempt(a Attempt, now time.Time) Attempt {
	if a.ID == "" {
		a.ID = NewID(PrefixAttempt)
	}
	if a.At.IsZero() {
		a.At = now
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	a.Error = Truncate(Storable(a.Error), MaxAttemptError)
	a.ResponseBody = Truncate(Storable(a.ResponseBody), MaxResponseBody)
	a.TraceID = Truncate(Storable(a.TraceID), 64)
	a.RequestHeaders = CapHeaders(a.RequestHeaders, MaxRequestHeaderBytes)
	a.ResponseHeaders = CapHeaders(a.ResponseHeaders, MaxResponseHeaderBytes)
	return a
}

// DisabledError is the last error of a delivery failed because its webhook was disabled
// for reason ("" when none was given).
func DisabledError(reason string) string {
	if reason == "" {
		return "webhook disabled"
	}
	return "webhook disabled: " + reason
}

// HumanDuration says 5 days rather than 120h0m0s.
func HumanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
