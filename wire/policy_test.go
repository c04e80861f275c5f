package wire_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

const (
	second = time.Second
	minute = time.Minute
	hour   = time.Hour
)

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format herald.Format
		want   wire.Policy
	}{
		{herald.FormatInfraAudit, wire.Policy{
			Schedule: []time.Duration{5 * minute, 30 * minute, 2 * hour},
			Timeout:  10 * second,
		}},
		{herald.FormatFrugally, wire.Policy{
			Schedule:             []time.Duration{minute, 5 * minute, 30 * minute, 2 * hour, 12 * hour},
			Timeout:              10 * second,
			DisableAfterFailures: 10,
		}},
		{herald.FormatStandard, wire.Policy{
			Schedule:               []time.Duration{5 * second, 5 * minute, 30 * minute, 2 * hour, 5 * hour, 10 * hour, 10 * hour},
			Jitter:                 0.2,
			Timeout:                15 * second,
			DisableAfterFailingFor: 5 * 24 * hour,
			DisableOnGone:          true,
		}},
	}
	for _, tt := range tests {
		if got := wire.DefaultPolicy(tt.format); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DefaultPolicy(%s) =\n %+v\nwant\n %+v", tt.format, got, tt.want)
		}
	}
}

// TestNextDelaySchedule walks each format's schedule without jitter to its end.
func TestNextDelaySchedule(t *testing.T) {
	t.Parallel()
	for _, f := range herald.Formats {
		p := wire.DefaultPolicy(f)
		for i, want := range p.Schedule {
			d, retry := p.NextDelay(i+1, http.StatusInternalServerError, "", signedAt, 0.5)
			if !retry || d != want {
				t.Errorf("%s: after attempt %d: (%s, %v), want (%s, true)", f, i+1, d, retry, want)
			}
		}
		if d, retry := p.NextDelay(len(p.Schedule)+1, 500, "", signedAt, 0.5); retry {
			t.Errorf("%s: after attempt %d of %d: retry in %s, want the delivery failed", f, len(p.Schedule)+1, len(p.Schedule)+1, d)
		}
		if d, retry := p.NextDelay(len(p.Schedule)+1, 503, "1", signedAt, 0.5); retry {
			t.Errorf("%s: exhausted schedule retried in %s because of Retry-After", f, d)
		}
	}
	if _, retry := (wire.Policy{}).NextDelay(1, 500, "", signedAt, 0.5); retry {
		t.Error("an empty schedule retried")
	}
}

func TestNextDelayJitter(t *testing.T) {
	t.Parallel()
	standard := wire.DefaultPolicy(herald.FormatStandard)
	infra := wire.DefaultPolicy(herald.FormatInfraAudit)
	tests := []struct {
		name     string
		p        wire.Policy
		attempt  int
		rnd      float64
		min, max time.Duration // inclusive
	}{
		{"standard rnd 0 is -20%", standard, 2, 0, 4 * minute, 4 * minute},
		{"standard rnd 0.5 is none", standard, 2, 0.5, 5 * minute, 5 * minute},
		{"standard rnd 0.75 is +10%", standard, 2, 0.75, 5*minute + 30*second, 5*minute + 30*second},
		{"standard rnd near 1 is under +20%", standard, 2, 0.999999, 6*minute - second, 6*minute - 1},
		{"standard 10h at rnd 0", standard, 7, 0, 8 * hour, 8 * hour},
		{"infraaudit has no jitter", infra, 1, 0, 5 * minute, 5 * minute},
		{"rnd out of range counts as 0.5", standard, 2, 1.5, 5 * minute, 5 * minute},
		{"negative rnd counts as 0.5", standard, 2, -0.1, 5 * minute, 5 * minute},
	}
	for _, tt := range tests {
		d, retry := tt.p.NextDelay(tt.attempt, 500, "", signedAt, tt.rnd)
		if !retry || d < tt.min || d > tt.max {
			t.Errorf("%s: (%s, %v), want (%s..%s, true)", tt.name, d, retry, tt.min, tt.max)
		}
	}
}

func TestNextDelayRetryAfter(t *testing.T) {
	t.Parallel()
	standard := wire.DefaultPolicy(herald.FormatStandard) // attempt 2 → 5m, ±20%
	date := func(d time.Duration) string { return signedAt.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name       string
		status     int
		retryAfter string
		rnd        float64
		want       time.Duration
	}{
		{"seconds within bounds", 503, "420", 0.5, 7 * minute},
		{"seconds below the schedule", 503, "60", 0.5, 5 * minute},
		{"seconds above twice the schedule", 429, "3600", 0.5, 10 * minute},
		{"zero seconds", 429, "0", 0.5, 5 * minute},
		{"spaces around", 502, " 420 ", 0.5, 7 * minute},
		{"absurd seconds", 504, "99999999999999999999999", 0.5, 10 * minute},
		{"date within bounds", 503, date(7 * minute), 0.5, 7 * minute},
		{"date below the schedule", 503, date(time.Minute), 0.5, 5 * minute},
		{"date in the past", 429, date(-time.Hour), 0.5, 5 * minute},
		{"date above twice the schedule", 502, date(time.Hour), 0.5, 10 * minute},
		{"clamped to the jittered delay", 503, "60", 0, 4 * minute},
		{"clamped to twice the jittered delay", 503, "3600", 0, 8 * minute},
		{"ignored for 500", 500, "420", 0.5, 5 * minute},
		{"ignored for 410", 410, "420", 0.5, 5 * minute},
		{"ignored for 200", 200, "420", 0.5, 5 * minute},
		{"negative seconds ignored", 503, "-420", 0.5, 5 * minute},
		{"fractional seconds ignored", 503, "420.5", 0.5, 5 * minute},
		{"garbage ignored", 429, "soon", 0.5, 5 * minute},
		{"empty", 429, "", 0.5, 5 * minute},
	}
	for _, tt := range tests {
		d, retry := standard.NextDelay(2, tt.status, tt.retryAfter, signedAt, tt.rnd)
		if !retry || d != tt.want {
			t.Errorf("%s: NextDelay(2, %d, %q) = (%s, %v), want (%s, true)", tt.name, tt.status, tt.retryAfter, d, retry, tt.want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want []time.Duration
	}{
		{"1s,2s,5s", []time.Duration{second, 2 * second, 5 * second}},
		{"5m,30m,2h", []time.Duration{5 * minute, 30 * minute, 2 * hour}},
		{" 100ms , 1m30s ", []time.Duration{100 * time.Millisecond, 90 * second}},
		{"0s", []time.Duration{0}},
		{"720h", []time.Duration{720 * hour}},
		{strings.Repeat("1s,", 99) + "1s", slices.Repeat([]time.Duration{second}, 100)},
	}
	for _, tt := range good {
		got, err := wire.ParseSchedule(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSchedule(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	bad := []string{
		"", " ", "5", "1s,,2s", "1s,", ",1s", "-1s", "1s,-5m", "5 minutes", "1d",
		"721h", strings.Repeat("1s,", 100) + "1s",
	}
	for _, in := range bad {
		if got, err := wire.ParseSchedule(in); err == nil {
			t.Errorf("ParseSchedule(%q) = %v, want an error", in, got)
		}
	}
}

// FuzzParseSchedule checks ParseSchedule never panics, returns only delays a Policy can
// use, and reads back what it would print.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"1s,2s,5s", "5m,30m,2h", "5s,5m,30m,2h,5h,10h,10h", "", ",", "1.5h", "-1s", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		schedule, err := wire.ParseSchedule(s)
		if err != nil {
			return
		}
		if len(schedule) == 0 || len(schedule) > 100 {
			t.Fatalf("ParseSchedule(%q) returned %d delays", s, len(schedule))
		}
		printed := make([]string, len(schedule))
		for i, d := range schedule {
			if d < 0 || d > 720*hour {
				t.Fatalf("ParseSchedule(%q)[%d] = %s, out of range", s, i, d)
			}
			printed[i] = d.String()
		}
		again, err := wire.ParseSchedule(strings.Join(printed, ","))
		if err != nil || !reflect.DeepEqual(again, schedule) {
			t.Fatalf("round trip of %q: %v, %v; want %v", s, again, err, schedule)
		}
		p := wire.Policy{Schedule: schedule, Jitter: 0.2}
		for i := range schedule {
			if d, retry := p.NextDelay(i+1, 503, "99999999999", signedAt, 0.999); !retry || d < 0 {
				t.Fatalf("NextDelay(%d) on %v = (%s, %v)", i+1, schedule, d, retry)
			}
		}
	})
}
