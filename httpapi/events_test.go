package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestPublishRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook(e.adminKey, nil) // subscribes to everything: any accepted event would make a delivery
	before := e.countDeliveries(herald.DeliveryFilter{})
	wakes := e.disp.Wakes()

	big := `{"type":"drift.detected","data":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	tests := []struct {
		name     string
		body     any
		hdr      []string
		status   int
		code     string
		contains string // in the error message
	}{
		{"malformed JSON", `{"type":"drift.detected","data":{`, nil, 400, herald.EMALFORMED, "not valid JSON"},
		{"not JSON at all", `type=drift.detected`, nil, 400, herald.EMALFORMED, ""},
		{"empty body", ``, nil, 400, herald.EMALFORMED, ""},
		{"body over 1 MiB", big, nil, 413, herald.ETOOLARGE, "too large"},
		{"unknown type", map[string]any{"type": "nope.nothing", "data": map[string]any{}}, nil, 422, herald.EINVALID, `unknown event type "nope.nothing"`},
		{"schema violation names the pointer", map[string]any{"type": "drift.detected", "data": json.RawMessage(strings.Replace(driftData, `"critical"`, `"apocalyptic"`, 1))}, nil, 422, herald.EINVALID, "/data/severity"},
		{"missing required field names the pointer", map[string]any{"type": "drift.detected", "data": map[string]any{"drift_id": 1}}, nil, 422, herald.EINVALID, "/data"},
		{"data of the wrong JSON type", map[string]any{"type": "drift.detected", "data": "a string"}, nil, 422, herald.EINVALID, "data"},
		{"missing type", map[string]any{"data": json.RawMessage(driftData)}, nil, 422, herald.EINVALID, ""},
		{"missing data", map[string]any{"type": "drift.detected"}, nil, 422, herald.EINVALID, ""},
		{"type of the wrong JSON type", map[string]any{"type": 7, "data": json.RawMessage(driftData)}, nil, 422, herald.EINVALID, ""},
		{"unknown field", driftEvent(map[string]any{"tenant": "x"}), nil, 422, herald.EINVALID, ""},
		{"bad id", driftEvent(map[string]any{"id": "has space"}), nil, 422, herald.EINVALID, ""},
		{"id too long", driftEvent(map[string]any{"id": strings.Repeat("a", 129)}), nil, 422, herald.EINVALID, ""},
		{"bad timestamp", driftEvent(map[string]any{"timestamp": "yesterday"}), nil, 422, herald.EINVALID, ""},
		{"tenant_id naming no tenant", driftEvent(map[string]any{"tenant_id": "ghost"}), nil, 422, herald.EINVALID, `"ghost"`},
		{"idempotency key too long", driftEvent(nil), []string{"Idempotency-Key", strings.Repeat("k", 256)}, 422, herald.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/events", e.adminKey, tt.body, tt.hdr...)
			b := checkError(t, r, tt.status, tt.code)
			if tt.contains != "" && !strings.Contains(*b.Error, tt.contains) {
				t.Errorf("error %q does not contain %q", *b.Error, tt.contains)
			}
		})
	}
	if got := e.countDeliveries(herald.DeliveryFilter{}); got != before {
		t.Errorf("refused publishes left %d deliveries, want %d", got, before)
	}
	if got := e.disp.Wakes(); got != wakes {
		t.Errorf("refused publishes woke the dispatcher %d times", got-wakes)
	}
	for _, id := range []string{"has space"} {
		if _, err := e.store.Event(context.Background(), id); herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Errorf("event %q stored after a refusal (err %v)", id, err)
		}
	}
}

func TestPublishAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bKey := e.createTenant("team_b")
	w := e.createWebhook(e.adminKey, map[string]any{"events": []string{"drift.detected"}})
	e.createWebhook(e.adminKey, map[string]any{"events": []string{"alert.created"}})
	e.createWebhook(bKey, nil) // another tenant's: never a delivery for the default tenant's events
	wakes := e.disp.Wakes()

	var res struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	body := driftEvent(map[string]any{"timestamp": "2024-01-15T15:30:00.987+01:00"})
	body["data"] = json.RawMessage("{\n  \"drift_id\": 55, " + driftData[len(`{"drift_id":55,`):])
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, body, &res)
	if !strings.HasPrefix(res.ID, herald.PrefixEvent) || res.Deliveries != 1 {
		t.Fatalf("publish answered %+v, want a new evt_ id and 1 delivery", res)
	}
	if e.disp.Wakes() != wakes+1 {
		t.Errorf("publish did not wake the dispatcher")
	}
	ev, err := e.store.Event(context.Background(), res.ID)
	if err != nil {
		t.Fatalf("stored event: %v", err)
	}
	if want := time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC); !ev.Timestamp.Equal(want) || ev.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp %v, want %v (UTC, whole seconds)", ev.Timestamp, want)
	}
	if string(ev.Data) != driftData {
		t.Errorf("data stored as %s, want it compacted: %s", ev.Data, driftData)
	}
	if ev.TenantID != herald.DefaultTenantID || ev.CreatedAt.IsZero() {
		t.Errorf("event tenant %q, created %v", ev.TenantID, ev.CreatedAt)
	}

	// Explicit tenant, caller id.
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"tenant_id": "team_b", "id": "order:42.a-b_c"}), &res)
	if res.ID != "order:42.a-b_c" || res.Deliveries != 1 {
		t.Errorf("publish for team_b answered %+v, want the caller's id and 1 delivery", res)
	}

	var got struct {
		ID         string            `json:"id"`
		Type       string            `json:"type"`
		Data       json.RawMessage   `json:"data"`
		Deliveries []herald.Delivery `json:"deliveries"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/events/"+ev.ID, e.adminKey, nil, &got)
	if got.ID != ev.ID || got.Type != "drift.detected" || len(got.Deliveries) != 1 || got.Deliveries[0].WebhookID != w.ID {
		t.Errorf("GET event = %+v, want it with its one delivery to %s", got, w.ID)
	}
}

func TestPublishIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook(e.adminKey, nil)
	e.createWebhook(e.adminKey, nil)
	type result struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}

	t.Run("same id", func(t *testing.T) {
		var first, second result
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": "evt-same"}), &first)
		e.must(http.StatusOK, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": "evt-same"}), &second)
		if first != second || first.Deliveries != 2 {
			t.Errorf("repeat answered %+v, first %+v; want the same, with 2 deliveries", second, first)
		}
		if n := e.countDeliveries(herald.DeliveryFilter{EventID: "evt-same"}); n != 2 {
			t.Errorf("%d deliveries for the repeated event, want 2", n)
		}
	})
	t.Run("Idempotency-Key", func(t *testing.T) {
		var first, second result
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &first, "Idempotency-Key", "key-1")
		e.must(http.StatusOK, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &second, "Idempotency-Key", "key-1")
		if first != second {
			t.Errorf("repeat answered %+v, first %+v", second, first)
		}
		if n := e.countDeliveries(herald.DeliveryFilter{EventID: first.ID}); n != 2 {
			t.Errorf("%d deliveries, want 2", n)
		}
		var third result
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &third, "Idempotency-Key", "key-2")
		if third.ID == first.ID {
			t.Errorf("another key returned the first event")
		}
	})
	t.Run("same id twice in a batch", func(t *testing.T) {
		var out struct {
			Results []struct {
				Status int    `json:"status"`
				ID     string `json:"id"`
			} `json:"results"`
		}
		twice := map[string]any{"events": []any{driftEvent(map[string]any{"id": "in-batch"}), driftEvent(map[string]any{"id": "in-batch"})}}
		e.must(http.StatusAccepted, "POST", "/api/v1/events/batch", e.adminKey, twice, &out)
		if len(out.Results) != 2 || out.Results[0].Status != 202 || out.Results[1].Status != 200 || out.Results[1].ID != "in-batch" {
			t.Errorf("results %+v, want 202 then 200", out.Results)
		}
		if n := e.countDeliveries(herald.DeliveryFilter{EventID: "in-batch"}); n != 2 {
			t.Errorf("%d deliveries, want 2", n)
		}
	})
	t.Run("same id for another tenant", func(t *testing.T) {
		e.createTenant("team_c")
		r := e.do("POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": "evt-same", "tenant_id": "team_c"}))
		checkError(t, r, http.StatusConflict, herald.ECONFLICT)
	})
}

func TestPublishBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenant("team_b")
	e.createWebhook(e.adminKey, nil)
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": "seen-before"}), nil)
	before := e.countDeliveries(herald.DeliveryFilter{})

	items := []any{
		driftEvent(nil), // 202
		map[string]any{"type": "nope", "data": 1},                                           // 422 unknown type
		driftEvent(map[string]any{"id": "b-1"}),                                             // 202
		map[string]any{"type": "drift.detected"},                                            // 422 no data
		"not an object",                                                                     // 422
		driftEvent(map[string]any{"id": "seen-before"}),                                     // 200 repeat
		driftEvent(map[string]any{"tenant_id": "ghost"}),                                    // 422 no such tenant
		driftEvent(map[string]any{"tenant_id": "team_b"}),                                   // 202, no webhook: 0 deliveries
		map[string]any{"type": "drift.detected", "data": map[string]any{"severity": "nah"}}, // 422 schema
	}
	var out struct {
		Results []struct {
			Status     int    `json:"status"`
			ID         string `json:"id"`
			Deliveries *int   `json:"deliveries"`
			Error      string `json:"error"`
			Code       string `json:"code"`
		} `json:"results"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": items}, &out)
	want := []int{202, 422, 202, 422, 422, 200, 422, 202, 422}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(out.Results), len(want))
	}
	for i, r := range out.Results {
		if r.Status != want[i] {
			t.Errorf("item %d: status %d, want %d (%+v)", i, r.Status, want[i], r)
		}
		if r.Status < 300 && (r.ID == "" || r.Deliveries == nil) {
			t.Errorf("item %d accepted without id or deliveries: %+v", i, r)
		}
		if r.Status >= 400 && (r.Error == "" || r.Code != herald.EINVALID || r.ID != "") {
			t.Errorf("item %d refused without error and code: %+v", i, r)
		}
	}
	if out.Results[2].ID != "b-1" || *out.Results[0].Deliveries != 1 || *out.Results[7].Deliveries != 0 {
		t.Errorf("accepted results wrong: %+v", out.Results)
	}
	if !strings.Contains(out.Results[8].Error, "/data/severity") {
		t.Errorf("schema error %q does not name the pointer", out.Results[8].Error)
	}
	if got := e.countDeliveries(herald.DeliveryFilter{}); got != before+2 {
		t.Errorf("%d deliveries after the batch, want %d", got, before+2)
	}
}

func TestPublishBatchConflictFallsBackPerItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenant("team_b")
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": "taken"}), nil)

	items := []any{
		driftEvent(map[string]any{"id": "first", "tenant_id": "team_b"}),
		driftEvent(map[string]any{"id": "taken", "tenant_id": "team_b"}), // the default tenant's id
		driftEvent(map[string]any{"id": "third", "tenant_id": "team_b"}),
	}
	var out struct {
		Results []struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"results"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": items}, &out)
	if len(out.Results) != 3 || out.Results[0].Status != 202 || out.Results[1].Status != 409 ||
		out.Results[1].Code != herald.ECONFLICT || out.Results[2].Status != 202 {
		t.Fatalf("results %+v, want 202, 409 CONFLICT, 202", out.Results)
	}
	for _, id := range []string{"first", "third"} {
		if _, err := e.store.Event(context.Background(), id); err != nil {
			t.Errorf("event %s not stored: %v", id, err)
		}
	}
}

func TestPublishBatchLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	items := make([]any, 1001)
	for i := range items {
		items[i] = driftEvent(map[string]any{"id": fmt.Sprint("n", i)})
	}
	checkError(t, e.do("POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": items}), 422, herald.EINVALID)
	checkError(t, e.do("POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": []any{}}), 422, herald.EINVALID)
	checkError(t, e.do("POST", "/api/v1/events/batch", e.adminKey, `{"events":[`), 400, herald.EMALFORMED)
	if _, err := e.store.Event(context.Background(), "n0"); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("an event of a refused batch was stored (err %v)", err)
	}

	// Over 1 MiB is fine for a batch, up to 16 MiB.
	pad := strings.Repeat("x", 1<<20)
	big := []any{map[string]any{"type": "drift.detected", "data": map[string]any{"pad": pad}}}
	r := e.do("POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": big})
	if r.code != http.StatusAccepted {
		t.Errorf("a 1 MiB batch answered %d, want 202: %.200s", r.code, r.body)
	}
	huge := `{"events":[{"type":"drift.detected","data":{"pad":"` + strings.Repeat("x", 16<<20) + `"}}]}`
	checkError(t, e.do("POST", "/api/v1/events/batch", e.adminKey, huge), 413, herald.ETOOLARGE)
}

func TestPublishReloadsCustomTypesFromStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Another process adds a type: it is in the store, not in this process's catalog.
	err := e.store.CreateEventType(context.Background(), &herald.EventType{
		Type: "invoice.paid", Description: "paid",
		Schema: json.RawMessage(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}`),
	})
	if err != nil {
		t.Fatalf("CreateEventType: %v", err)
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 3}}, nil)
	r := e.do("POST", "/api/v1/events", e.adminKey, map[string]any{"type": "invoice.paid", "data": map[string]any{}})
	checkError(t, r, 422, herald.EINVALID)
}

func TestGetEventNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checkError(t, e.do("GET", "/api/v1/events/evt_missing", e.adminKey, nil), 404, herald.ENOTFOUND)
}
