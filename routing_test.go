package herald_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestValidateChannels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		channels []string
		bad      string // in the error, "" for valid
	}{
		{nil, ""},
		{[]string{"prod", "eu-west-1", "team:core", "a.b_c"}, ""},
		{[]string{strings.Repeat("a", 128)}, ""},
		{[]string{strings.Repeat("a", 129)}, "channel 1"},
		{[]string{"prod", "Prod"}, `channel 2 ("Prod")`},
		{[]string{""}, "channel 1"},
		{[]string{"a b"}, "channel 1"},
		{strings.Split("a,b,c,d,e,f,g,h,i,j", ","), ""},
		{strings.Split("a,b,c,d,e,f,g,h,i,j,k", ","), "11 channels; the limit is 10"},
	} {
		err := herald.ValidateChannels("the event", tc.channels)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("ValidateChannels(%q) = %v, want nil", tc.channels, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad) || herald.ErrorCode(err) != herald.EINVALID):
			t.Errorf("ValidateChannels(%q) = %v, want EINVALID saying %q", tc.channels, err, tc.bad)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	e := &herald.Event{Type: "drift.detected", Channels: []string{"prod", "eu"}}
	for _, tc := range []struct {
		name  string
		w     herald.Webhook
		match func(string) bool
		want  bool
	}{
		{"every type, every channel", herald.Webhook{}, nil, true},
		{"another type", herald.Webhook{Events: []string{"alert.created"}}, nil, false},
		{"a shared channel", herald.Webhook{Channels: []string{"us", "eu"}}, nil, true},
		{"no shared channel", herald.Webhook{Channels: []string{"us"}}, nil, false},
		{"a filter that passes", herald.Webhook{Filter: "x"}, yes, true},
		{"a filter that refuses", herald.Webhook{Filter: "x"}, no, false},
		{"a filter and no matcher", herald.Webhook{Filter: "x"}, nil, false},
		{"a passing filter, no shared channel", herald.Webhook{Filter: "x", Channels: []string{"us"}}, yes, false},
	} {
		if got := tc.w.Routes(e, tc.match); got != tc.want {
			t.Errorf("%s: Routes = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (&herald.Webhook{Channels: []string{"prod"}}).Routes(&herald.Event{Type: "a.b"}, nil) {
		t.Error("a webhook with channels took an event without any")
	}
}

// onlyTrue is a Matcher whose filters pass when their text is "true".
type onlyTrue struct{ calls *int }

func (m onlyTrue) For(*herald.Event) func(string) bool {
	*m.calls++
	return func(f string) bool { return f == "true" }
}

func TestPlanReplay(t *testing.T) {
	t.Parallel()
	data := json.RawMessage(`{"a":1}`)
	ev := func(typ string, d json.RawMessage, channels ...string) herald.Event {
		return herald.Event{Type: typ, Data: d, Channels: channels}
	}
	cs := []herald.ReplayCandidate{
		{Event: ev("drift.detected", data)},
		{Event: ev(herald.PingType, data)},
		{Event: ev("drift.detected", json.RawMessage("null"))},
		{Event: ev("alert.created", data)},
		{Event: ev("drift.detected", data), LatestStatus: herald.StatusFailed},
		{Event: ev("cost.anomaly", data)},
	}
	w := &herald.Webhook{Events: []string{"drift.detected", "alert.created"}}
	calls := 0
	m := onlyTrue{&calls}
	S, K, I := herald.ReplaySend, herald.ReplaySkip, herald.ReplayIgnore
	for _, tc := range []struct {
		name   string
		filter string
		r      herald.ReplayRequest
		want   []herald.ReplayDecision
	}{
		{"every type subscribed", "", herald.ReplayRequest{}, []herald.ReplayDecision{S, I, K, S, S, I}},
		{"narrowed to a type", "", herald.ReplayRequest{Types: []string{"alert.created"}}, []herald.ReplayDecision{I, I, I, S, I, I}},
		{"only failed", "", herald.ReplayRequest{OnlyFailed: true}, []herald.ReplayDecision{I, I, I, I, S, I}},
		{"a filter that passes", "true", herald.ReplayRequest{}, []herald.ReplayDecision{S, I, K, S, S, I}},
		{"a filter that refuses", "false", herald.ReplayRequest{}, []herald.ReplayDecision{I, I, I, I, I, I}},
	} {
		w.Filter = tc.filter
		got := herald.PlanReplay(w, &tc.r, cs, m)
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: candidate %d: decision %d, want %d", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	if calls == 0 {
		t.Error("PlanReplay never asked the matcher about a filtered webhook")
	}
}

func TestValidateReplay(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		since, until time.Time
		want         string // "" for valid
	}{
		{time.Time{}, now, "since is required"},
		{now, now, "must be after since"},
		{now.Add(time.Hour), now, "must be after since"},
		{now.Add(-time.Hour), now, ""},
	} {
		err := herald.ValidateReplay(&herald.ReplayRequest{Since: tc.since, Until: tc.until})
		if (tc.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tc.want) || herald.ErrorCode(err) != herald.EINVALID)) {
			t.Errorf("ValidateReplay(%s, %s) = %v, want %q", tc.since, tc.until, err, tc.want)
		}
	}
}

func TestValidateReplayTarget(t *testing.T) {
	t.Parallel()
	if err := herald.ValidateReplayTarget(&herald.Webhook{ID: "wh_on", Enabled: true}); err != nil {
		t.Errorf("an enabled webhook: %v, want nil", err)
	}
	err := herald.ValidateReplayTarget(&herald.Webhook{ID: "wh_off"})
	if herald.ErrorCode(err) != herald.ECONFLICT || !strings.Contains(err.Error(), `"wh_off" is disabled`) {
		t.Errorf("a disabled webhook: %v, want ECONFLICT naming it", err)
	}
}

// TestReplayWalk checks where batches of a replay start and stop: just before Since at
// first, after the last event read since, and done once a batch comes up short.
func TestReplayWalk(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := herald.ReplayRequest{Since: since, Until: since.Add(time.Hour)}
	if got := r.Start(); !got.CreatedAt.Before(since) || got.CreatedAt.Before(since.Add(-time.Microsecond)) || got.ID != "" {
		t.Errorf("first batch starts after %+v, want just before since %s", got, since)
	}

	cs := []herald.ReplayCandidate{
		{Event: herald.Event{ID: "evt_1", CreatedAt: since}},
		{Event: herald.Event{ID: "evt_2", CreatedAt: since.Add(time.Second)}},
	}
	res := herald.ReplayResult{Next: r.After}
	res.Advance(cs, 2)
	if want := (herald.PurgeCursor{CreatedAt: since.Add(time.Second), ID: "evt_2"}); res.Next != want || res.Done {
		t.Errorf("after a full batch: next %+v, done %v; want %+v and not done", res.Next, res.Done, want)
	}
	r.After = res.Next
	if got := r.Start(); got != res.Next {
		t.Errorf("second batch starts after %+v, want the first's last event %+v", got, res.Next)
	}

	res.Advance(nil, 2)
	if res.Next != r.After || !res.Done {
		t.Errorf("after an empty batch: next %+v, done %v; want the cursor kept and done", res.Next, res.Done)
	}
	res = herald.ReplayResult{}
	res.Advance(cs[:1], 2)
	if res.Next.ID != "evt_1" || !res.Done {
		t.Errorf("after a short batch: next %+v, done %v; want evt_1 and done", res.Next, res.Done)
	}
}
