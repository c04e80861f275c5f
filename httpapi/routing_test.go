package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// routedWebhook is the webhook resource's routing fields.
type routedWebhook struct {
	ID       string   `json:"id"`
	Filter   string   `json:"filter"`
	Channels []string `json:"channels"`
	Ordering string   `json:"ordering"`
}

func TestWebhookRoutingFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var w routedWebhook
	e.must(http.StatusCreated, "POST", "/api/v1/webhooks", e.adminKey, map[string]any{
		"name": "hook", "url": hookURL, "events": []string{"drift.detected"},
		"filter":   `data.severity == "critical" && data.resource_type.startsWith("s3")`,
		"channels": []string{"prod", "eu-west-1"}, "ordering": "key",
	}, &w)
	if w.Filter == "" || strings.Join(w.Channels, ",") != "prod,eu-west-1" || w.Ordering != "key" {
		t.Fatalf("created webhook = %+v, want its filter, channels and ordering", w)
	}
	var got routedWebhook
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID, e.adminKey, nil, &got)
	if got.Filter != w.Filter || got.Ordering != "key" || len(got.Channels) != 2 {
		t.Fatalf("read webhook = %+v, want %+v", got, w)
	}
	e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey,
		map[string]any{"filter": "", "channels": []string{}, "ordering": "none"}, &got)
	if got.Filter != "" || got.Channels == nil || len(got.Channels) != 0 || got.Ordering != "none" {
		t.Fatalf("cleared webhook = %+v, want no filter, [] channels, ordering none", got)
	}
	var plain routedWebhook
	e.must(http.StatusCreated, "POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "plain", "url": hookURL}, &plain)
	if plain.Ordering != "none" || plain.Channels == nil {
		t.Fatalf("default webhook = %+v, want ordering none and channels []", plain)
	}
}

func TestWebhookRoutingRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		body map[string]any
		want []string
	}{
		{"syntax", map[string]any{"filter": `data.severity == `}, []string{"filter does not compile", "line 1, column"}},
		{"undeclared", map[string]any{"filter": `severity == "x"`}, []string{"undeclared reference", "line 1, column 1"}},
		{"not bool", map[string]any{"filter": `1 + 1`}, []string{"bool"}},
		{"too costly", map[string]any{"filter": `data.a.all(x, data.a.all(y, x == y))`, "events": []string{"*"}}, []string{"too costly"}},
		{"unknown field", map[string]any{"filter": `data.severty == "critical"`, "events": []string{"drift.detected"}}, []string{"data.severty"}},
		{"field of another type", map[string]any{"filter": `data.amount > 5.0`, "events": []string{"drift.detected"}}, []string{"data.amount"}},
		{"bad channel", map[string]any{"channels": []string{"Prod"}}, []string{"channel 1", "Prod"}},
		{"too many channels", map[string]any{"channels": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, []string{"channels"}},
		{"ordering", map[string]any{"ordering": "fifo"}, []string{"ordering"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": "hook", "url": hookURL}
			for k, v := range tc.body {
				body[k] = v
			}
			r := e.do("POST", "/api/v1/webhooks", e.adminKey, body)
			checkError(t, r, http.StatusUnprocessableEntity, herald.EINVALID)
			for _, w := range tc.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("422 body %s does not say %q", r.body, w)
				}
			}
		})
	}
	// The same checks on update; a field of the subscribed type passes.
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}})
	checkError(t, e.do("PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"filter": `data.nope == 1`}),
		http.StatusUnprocessableEntity, herald.EINVALID)
	e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"filter": `data.severity == "critical"`}, nil)
	// Changing the types re-checks the filter against them.
	checkError(t, e.do("PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"events": []string{"invoice.paid"}}),
		http.StatusUnprocessableEntity, herald.EINVALID)
}

func TestPublishRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	critical := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}, "filter": `data.severity == "critical"`})
	low := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}, "filter": `data.severity == "low"`})
	prod := e.createWebhook(e.adminKey, map[string]any{"channels": []string{"prod"}})
	var res struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"channels": []string{"prod"}, "ordering_key": "k1"}), &res)
	if res.Deliveries != 2 {
		t.Fatalf("publish on prod: %d deliveries, want 2 (critical and prod)", res.Deliveries)
	}
	for id, want := range map[string]int{critical.ID: 1, low.ID: 0, prod.ID: 1} {
		if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: id, EventType: "drift.detected"}); n != want {
			t.Errorf("webhook %s: %d drift deliveries, want %d", id, n, want)
		}
	}
	var ev struct {
		Channels    []string `json:"channels"`
		OrderingKey string   `json:"ordering_key"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/events/"+res.ID, e.adminKey, nil, &ev)
	if len(ev.Channels) != 1 || ev.Channels[0] != "prod" || ev.OrderingKey != "k1" {
		t.Fatalf("event = %+v, want channels [prod] and ordering key k1", ev)
	}
	// The delivery log shows channels and searches by one.
	var ds []struct {
		ID       string   `json:"id"`
		Channels []string `json:"channels"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/deliveries?channel=prod", e.adminKey, nil, &ds)
	if len(ds) != 2 || len(ds[0].Channels) != 1 {
		t.Fatalf("deliveries on prod = %+v, want 2 showing their channels", ds)
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+prod.ID+"/deliveries?channel=staging", e.adminKey, nil, &ds)
	if len(ds) != 0 {
		t.Fatalf("deliveries on staging = %+v, want none", ds)
	}
	for _, bad := range []map[string]any{
		{"channels": []string{"UPPER"}},
		{"channels": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")},
		{"ordering_key": strings.Repeat("k", 257)},
	} {
		checkError(t, e.do("POST", "/api/v1/events", e.adminKey, driftEvent(bad)), http.StatusUnprocessableEntity, herald.EINVALID)
	}
	// A test bypasses the filter.
	e.must(http.StatusOK, "POST", "/api/v1/webhooks/"+low.ID+"/test", e.adminKey, map[string]any{"event_type": "drift.detected"}, nil)
}

func TestReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := time.Now().UTC().Add(-time.Second)
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}})
	var first struct {
		ID string `json:"id"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &first)
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), nil)
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, map[string]any{"type": "alert.created",
		"data": json.RawMessage(`{"alert_id":12,"title":"t","type":"security","severity":"critical","resource_id":5,"resource_name":"r","created_at":"2024-01-15T14:31:00Z"}`)}, nil)
	var out struct {
		Replayed int  `json:"replayed"`
		Skipped  int  `json:"skipped"`
		Complete bool `json:"complete"`
	}
	wakes := e.disp.Wakes()
	e.must(http.StatusAccepted, "POST", "/api/v1/webhooks/"+w.ID+"/replay", e.adminKey,
		map[string]any{"since": before.Format(time.RFC3339Nano)}, &out)
	if out.Replayed != 2 || out.Skipped != 0 || !out.Complete {
		t.Fatalf("replay = %+v, want the 2 drift events (not the ping, not the alert), complete", out)
	}
	if e.disp.Wakes() == wakes {
		t.Error("replay did not wake the dispatcher")
	}
	if n := e.countDeliveries(herald.DeliveryFilter{WebhookID: w.ID, EventID: first.ID}); n != 2 {
		t.Errorf("event %s has %d deliveries to the webhook, want 2 (the first and the replay, same event id)", first.ID, n)
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/webhooks/"+w.ID+"/replay", e.adminKey,
		map[string]any{"since": before.Format(time.RFC3339Nano), "only_failed": true}, &out)
	if out.Replayed != 0 {
		t.Fatalf("only_failed replay = %+v, want nothing: no delivery failed", out)
	}
	for _, bad := range []map[string]any{
		{},
		{"since": time.Now().Add(time.Hour).Format(time.RFC3339)},
		{"since": before.Format(time.RFC3339), "types": []string{"no.such"}},
	} {
		checkError(t, e.do("POST", "/api/v1/webhooks/"+w.ID+"/replay", e.adminKey, bad), http.StatusUnprocessableEntity, herald.EINVALID)
	}
	checkError(t, e.do("POST", "/api/v1/webhooks/wh_nope/replay", e.adminKey, map[string]any{"since": before}), http.StatusNotFound, herald.ENOTFOUND)
	e.must(http.StatusOK, "PATCH", "/api/v1/webhooks/"+w.ID, e.adminKey, map[string]any{"enabled": false}, nil)
	checkError(t, e.do("POST", "/api/v1/webhooks/"+w.ID+"/replay", e.adminKey, map[string]any{"since": before}), http.StatusConflict, herald.ECONFLICT)
}

func TestFilterTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var out struct {
		Matched bool   `json:"matched"`
		Valid   bool   `json:"valid"`
		Error   string `json:"error"`
	}
	test := func(body map[string]any) {
		t.Helper()
		out.Matched, out.Valid, out.Error = false, false, ""
		e.must(http.StatusOK, "POST", "/api/v1/filters/test", e.adminKey, body, &out)
	}
	test(map[string]any{"filter": `data.severity == "critical"`, "event_type": "drift.detected", "data": json.RawMessage(driftData)})
	if !out.Matched || !out.Valid || out.Error != "" {
		t.Fatalf("critical drift: %+v, want matched", out)
	}
	test(map[string]any{"filter": `data.severity == "low"`, "event_type": "drift.detected", "data": json.RawMessage(driftData)})
	if out.Matched || !out.Valid {
		t.Fatalf("low filter on a critical drift: %+v, want valid, not matched", out)
	}
	test(map[string]any{"filter": `data.sevrity == "low"`, "event_type": "drift.detected"})
	if out.Valid || !strings.Contains(out.Error, "data.sevrity") {
		t.Fatalf("misspelt field: %+v, want invalid naming data.sevrity", out)
	}
	test(map[string]any{"filter": `"prod" in channels`, "event_type": "drift.detected", "channels": []string{"prod"}})
	if !out.Matched {
		t.Fatalf("channel filter against the sample on prod: %+v, want matched", out)
	}
	checkError(t, e.do("POST", "/api/v1/filters/test", e.adminKey, map[string]any{"filter": "true", "event_type": "no.such"}),
		http.StatusUnprocessableEntity, herald.EINVALID)
}
