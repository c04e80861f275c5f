package wire

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// Policy is a format's delivery rules. DefaultPolicy gives the ones the specification
// documents; configuration may replace the Schedule (HERALD_RETRY_SCHEDULE) or the rest.
type Policy struct {
	Schedule               []time.Duration // delay before retry 1, 2, ...; after the last → failed
	Jitter                 float64         // ±fraction applied to each scheduled delay (0.2 for standard)
	Timeout                time.Duration   // 10s infraaudit/frugally, 15s standard
	DisableAfterFailures   int             // 10 for frugally, else 0
	DisableAfterFailingFor time.Duration   // 5 days for standard, else 0
	DisableOnGone          bool            // 410 disables at once: standard
}

// DefaultPolicy returns format f's documented rules. An unknown format gets standard's,
// the default format of new webhooks.
func DefaultPolicy(f herald.Format) Policy {
	switch f {
	case herald.FormatInfraAudit:
		return Policy{
			Schedule: []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour},
			Timeout:  10 * time.Second,
		}
	case herald.FormatFrugally:
		return Policy{
			Schedule: []time.Duration{
				time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour,
			},
			Timeout:              10 * time.Second,
			DisableAfterFailures: 10,
		}
	default:
		return Policy{
			Schedule: []time.Duration{
				5 * time.Second, 5 * time.Minute, 30 * time.Minute,
				2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
			},
			Jitter:                 0.2,
			Timeout:                15 * time.Second,
			DisableAfterFailingFor: 5 * 24 * time.Hour,
			DisableOnGone:          true,
		}
	}
}

// NextDelay says when attempt number attempt (1-based, the one that just failed) is
// followed by another: retry is false when the schedule is exhausted.
//
// The scheduled delay is Schedule[attempt-1] scaled by 1 + Jitter·(2·rnd − 1), so rnd in
// [0, 1) spreads it over ±Jitter and 0.5 means none (rnd outside [0, 1), or NaN, counts
// as 0.5). For status 429, 502, 503 and 504 a Retry-After header value — delta-seconds or
// an HTTP-date, relative to now — is honoured, clamped to between the scheduled delay and
// twice it; an unparsable one is ignored.
func (p Policy) NextDelay(attempt, status int, retryAfter string, now time.Time, rnd float64) (delay time.Duration, retry bool) {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > len(p.Schedule) {
		return 0, false
	}
	if !(rnd >= 0 && rnd < 1) {
		rnd = 0.5
	}
	delay = scale(p.Schedule[attempt-1], 1+p.Jitter*(2*rnd-1))
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if asked, ok := parseRetryAfter(retryAfter, now); ok {
			delay = min(max(asked, delay), scale(delay, 2))
		}
	}
	return delay, true
}

// scale returns d·f, saturating instead of overflowing, and never negative.
func scale(d time.Duration, f float64) time.Duration {
	v := float64(d) * f
	switch {
	case v <= 0 || math.IsNaN(v):
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(v)
}

// parseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3): delta-seconds or an
// HTTP-date, which is made relative to now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return math.MaxInt64, true // absurdly far: the clamp brings it back
			}
			return 0, false
		}
		if secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return at.Sub(now), true
}

// Limits on a configured schedule, so a typo cannot make a delivery wait for years or
// retry forever, and doubling a delay for Retry-After cannot overflow.
const (
	maxScheduleLen   = 100
	maxScheduleDelay = 30 * 24 * time.Hour
)

// ParseSchedule parses a retry schedule such as "1s,2s,5s" or "5m,30m,2h"
// (HERALD_RETRY_SCHEDULE): comma-separated Go durations, spaces around each allowed. Each
// must be between 0 and 720h (30 days), and there may be at most 100.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("retry schedule is empty")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxScheduleLen {
		return nil, fmt.Errorf("retry schedule has %d delays, at most %d allowed", len(parts), maxScheduleLen)
	}
	schedule := make([]time.Duration, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("retry schedule %q: delay %d is empty", s, i+1)
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("retry schedule %q: delay %d: %q is not a duration like 30s, 5m or 2h", s, i+1, part)
		}
		if d < 0 || d > maxScheduleDelay {
			return nil, fmt.Errorf("retry schedule %q: delay %d (%s) must be between 0s and %s", s, i+1, part, maxScheduleDelay)
		}
		schedule = append(schedule, d)
	}
	return schedule, nil
}
