package herald_test

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestPlanPublish(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(id, tenant, typ string, at time.Time) herald.Event {
		return herald.Event{ID: id, TenantID: tenant, Type: typ, CreatedAt: at}
	}
	st := &herald.PublishState{
		EventTenants:  map[string]string{"evt_old": "t1"},
		Keys:          map[herald.TenantKey]herald.StoredKey{{"t1", "k-fresh"}: {"evt_keyed", t0.Add(-time.Hour)}, {"t1", "k-stale"}: {"evt_stale", t0.Add(-25 * time.Hour)}},
		TargetTenants: map[string]string{"wh_disabled": "t1", "wh_other": "t2"},
		Subscribers: map[string][]herald.Webhook{"t1": {
			{ID: "wh_all"}, {ID: "wh_star", Events: []string{"*"}}, {ID: "wh_a", Events: []string{"a"}}, {ID: "wh_b", Events: []string{"b"}}}},
	}
	type want struct {
		repeatOf string
		sameAs   int
		targets  []string
		takesKey bool
	}
	for _, tt := range []struct {
		name  string
		ps    []herald.Publication
		want  []want
		error string // code, when it fails
	}{
		{name: "subscribers of the type, oldest first",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "a", t0)}},
			want: []want{{targets: []string{"wh_all", "wh_star", "wh_a"}}}},
		{name: "a tenant without webhooks",
			ps:   []herald.Publication{{Event: ev("evt_1", "t3", "a", t0)}},
			want: []want{{}}},
		{name: "a target, enabled or not",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "ping", t0), Target: "wh_disabled"}},
			want: []want{{targets: []string{"wh_disabled"}}}},
		{name: "another tenant's target is not found",
			ps:    []herald.Publication{{Event: ev("evt_1", "t1", "ping", t0), Target: "wh_other"}},
			error: herald.ENOTFOUND},
		{name: "a stored event of the tenant repeats",
			ps:   []herald.Publication{{Event: ev("evt_old", "t1", "a", t0)}},
			want: []want{{repeatOf: "evt_old"}}},
		{name: "a stored event of another tenant conflicts",
			ps:    []herald.Publication{{Event: ev("evt_1", "t1", "a", t0)}, {Event: ev("evt_old", "t2", "a", t0)}},
			error: herald.ECONFLICT},
		{name: "an id twice in a batch",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "b", t0)}, {Event: ev("evt_1", "t1", "b", t0)}},
			want: []want{{targets: []string{"wh_all", "wh_star", "wh_b"}}, {sameAs: 1}}},
		{name: "an id twice in a batch, another tenant",
			ps:    []herald.Publication{{Event: ev("evt_1", "t1", "b", t0)}, {Event: ev("evt_1", "t2", "b", t0)}},
			error: herald.ECONFLICT},
		{name: "a stored key within its window repeats its event",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "a", t0), IdempotencyKey: "k-fresh"}},
			want: []want{{repeatOf: "evt_keyed"}}},
		{name: "a stored key past its window is taken over",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "zzz", t0), IdempotencyKey: "k-stale"}},
			want: []want{{targets: []string{"wh_all", "wh_star"}, takesKey: true}}},
		{name: "a key twice in a batch, within the window",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "zzz", t0), IdempotencyKey: "k"}, {Event: ev("evt_2", "t1", "zzz", t0.Add(time.Hour)), IdempotencyKey: "k"}},
			want: []want{{targets: []string{"wh_all", "wh_star"}, takesKey: true}, {sameAs: 1}}},
		{name: "a key twice in a batch, past the window: the last takes it",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "zzz", t0), IdempotencyKey: "k"}, {Event: ev("evt_2", "t1", "zzz", t0.Add(25*time.Hour)), IdempotencyKey: "k"}},
			want: []want{{targets: []string{"wh_all", "wh_star"}}, {targets: []string{"wh_all", "wh_star"}, takesKey: true}}},
		{name: "one key, two tenants",
			ps:   []herald.Publication{{Event: ev("evt_1", "t1", "zzz", t0), IdempotencyKey: "k"}, {Event: ev("evt_2", "t3", "zzz", t0), IdempotencyKey: "k"}},
			want: []want{{targets: []string{"wh_all", "wh_star"}, takesKey: true}, {takesKey: true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plans, err := herald.PlanPublish(tt.ps, st)
			if tt.error != "" {
				if herald.ErrorCode(err) != tt.error {
					t.Fatalf("error %v, want %s", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range plans {
				w := tt.want[i]
				if p.RepeatOf != w.repeatOf || p.SameAs != w.sameAs || !slices.Equal(p.Targets, w.targets) || p.TakesKey != w.takesKey {
					t.Errorf("publication %d: repeat of %q, same as %d, targets %v, takes key %v; want %q, %d, %v, %v",
						i, p.RepeatOf, p.SameAs, p.Targets, p.TakesKey, w.repeatOf, w.sameAs, w.targets, w.takesKey)
				}
				if p.New() != (w.repeatOf == "" && w.sameAs == 0) {
					t.Errorf("publication %d: New() = %v", i, p.New())
				}
			}
		})
	}
}

func TestNormalizeEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 30, 123456789, time.FixedZone("x", 3600))
	ps := herald.NormalizeEvents([]herald.Publication{{Event: herald.Event{Type: "a"}}}, now)
	e := ps[0].Event
	if e.ID == "" || e.TenantID != herald.DefaultTenantID || !e.CreatedAt.Equal(now.Truncate(time.Microsecond)) ||
		e.CreatedAt.Location() != time.UTC || !e.Timestamp.Equal(now.Truncate(time.Second)) {
		t.Errorf("normalized %+v: want an id, the default tenant, now in UTC to the microsecond, the timestamp in seconds", e)
	}
}
