package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// healthResp is a webhook's health as the API shows it.
type healthResp struct {
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastError           string     `json:"last_error"`
	FailingSince        *time.Time `json:"failing_since"`
	LastSuccessAt       *time.Time `json:"last_success_at"`
}

// retryLater records a failed attempt of delivery id, answered 500, that leaves it
// pending with a retry in an hour, as the dispatcher would.
func retryLater(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := e.store.ClaimDelivery(ctx, id, "t", now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := e.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "t", Status: herald.StatusPending, NextAttemptAt: now.Add(time.Hour),
		Attempt: herald.Attempt{DeliveryID: id, At: now, StatusCode: 500}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWebhookHealth: a webhook whose endpoint answers 500 says so in its health, and is
// no longer "enabled" and nothing else; its retrying deliveries can be listed apart from
// those not tried yet, each with its next attempt and last error.
func TestWebhookHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	path := "/api/v1/webhooks/" + w.ID
	health := func(what string) healthResp {
		t.Helper()
		var got struct {
			Health *healthResp `json:"health"`
		}
		e.must(http.StatusOK, "GET", path, e.adminKey, nil, &got)
		if got.Health == nil {
			t.Fatalf("%s: the webhook has no health", what)
		}
		return *got.Health
	}
	if h := health("new"); h.State != "healthy" || h.ConsecutiveFailures != 0 || h.LastError != "" || h.FailingSince != nil || h.LastSuccessAt != nil {
		t.Errorf("a new webhook's health = %+v, want healthy with nothing else", h)
	}

	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", path+"/deliveries", e.adminKey, nil, &ds)
	ping := ds[0].ID
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), nil)
	retryLater(t, e, ping)

	h := health("after a 500")
	if h.State != "failing" || h.ConsecutiveFailures != 1 || h.LastError != "HTTP 500 Internal Server Error" || h.FailingSince == nil {
		t.Errorf("health after a 500 = %+v, want failing once with the HTTP status", h)
	}
	var list []struct {
		ID     string      `json:"id"`
		Health *healthResp `json:"health"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/webhooks", e.adminKey, nil, &list)
	if len(list) != 1 || list[0].Health == nil || list[0].Health.State != "failing" {
		t.Errorf("webhook list = %+v, want the webhook failing", list)
	}

	for _, base := range []string{path + "/deliveries", "/api/v1/deliveries"} {
		r := e.must(http.StatusOK, "GET", base+"?status=retrying", e.adminKey, nil, nil)
		var raw []map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 1 || string(raw[0]["id"]) != `"`+ping+`"` || r.header.Get("X-Total-Count") != "1" {
			t.Fatalf("%s?status=retrying = %s, want only %s", base, r.body, ping)
		}
		if string(raw[0]["last_error"]) != `"HTTP 500 Internal Server Error"` || string(raw[0]["next_attempt_at"]) == "null" {
			t.Errorf("the retrying delivery's last error %s and next attempt %s, want the HTTP status and a time",
				raw[0]["last_error"], raw[0]["next_attempt_at"])
		}
		e.must(http.StatusOK, "GET", base+"?status=pending", e.adminKey, nil, &raw)
		if len(raw) != 2 {
			t.Errorf("%s?status=pending gave %d, want the retrying one and the one not tried yet", base, len(raw))
		}
		for _, d := range raw {
			if _, ok := d["last_error"]; !ok {
				t.Errorf("a delivery without an error lacks last_error: %v", d)
			}
		}
	}

	// A newer, healthy webhook comes first, unless failing ones are asked first.
	newer := e.createWebhook(e.adminKey, nil)
	for q, want := range map[string][]string{"": {newer.ID, w.ID}, "?failing_first=true": {w.ID, newer.ID}} {
		e.must(http.StatusOK, "GET", "/api/v1/webhooks"+q, e.adminKey, nil, &list)
		if len(list) != 2 || list[0].ID != want[0] || list[1].ID != want[1] {
			t.Errorf("GET /api/v1/webhooks%s = %+v, want %v", q, list, want)
		}
	}

	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"enabled": false}, nil)
	if h := health("disabled"); h.State != "disabled" {
		t.Errorf("a disabled webhook's state = %q, want disabled", h.State)
	}
}

// TestAuthorizationWithoutBearer: a key sent in Authorization without its scheme is
// refused with a message that says what is missing.
func TestAuthorizationWithoutBearer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		header, want string
	}{
		{e.adminKey, `no "Bearer " before the key`},
		{"Basic " + e.adminKey, "scheme is not Bearer"},
		{"Bearer ", "Bearer but has no key"},
	} {
		b := checkError(t, e.do("GET", "/api/v1/webhooks", "", nil, "Authorization", tt.header), 401, herald.EUNAUTHORIZED)
		if !strings.Contains(*b.Error, tt.want) || strings.Contains(*b.Error, e.adminKey) {
			t.Errorf("Authorization %.12q… refused with %q, want it to say %q and not echo the key", tt.header, *b.Error, tt.want)
		}
	}
	b := checkError(t, e.do("GET", "/api/v1/webhooks", "", nil), 401, herald.EUNAUTHORIZED)
	if !strings.HasPrefix(*b.Error, "missing API key") {
		t.Errorf("no key refused with %q, want it to say the key is missing", *b.Error)
	}
}

// TestRecoverDefaultWindow: a recover without a body, or without since, requeues the
// failed deliveries of the last 24 hours and not older ones.
func TestRecoverDefaultWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	recent := ds[0].ID
	old := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	res, err := e.store.Publish(context.Background(), []herald.Publication{{Event: herald.Event{
		ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "ping",
		Data: json.RawMessage(`{}`), Timestamp: old, CreatedAt: old}, Target: w.ID}})
	if err != nil {
		t.Fatal(err)
	}
	stale := res[0].DeliveryIDs[0]

	path := "/api/v1/webhooks/" + w.ID + "/recover"
	for _, body := range []any{nil, map[string]any{}} {
		failDelivery(t, e, recent)
		failDelivery(t, e, stale)
		var out struct {
			Requeued int `json:"requeued"`
		}
		e.must(http.StatusAccepted, "POST", path, e.adminKey, body, &out)
		if out.Requeued != 1 {
			t.Errorf("recover with body %v requeued %d, want the one failed in the last 24 hours", body, out.Requeued)
		}
		for id, want := range map[string]herald.DeliveryStatus{recent: herald.StatusPending, stale: herald.StatusFailed} {
			if d, _ := e.store.Delivery(context.Background(), id); d.Status != want {
				t.Errorf("recover with body %v left %s %s, want %s", body, id, d.Status, want)
			}
		}
	}
}

// TestOpenAPIDocumentsHealth: the description has the webhook's health with its states,
// the retrying filter on both delivery lists, and the retry's Herald-Attempt header.
func TestOpenAPIDocumentsHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(http.StatusOK, "GET", "/openapi.json", "", nil, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
			Responses map[string]struct {
				Headers map[string]json.RawMessage `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Ref  string   `json:"$ref"`
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	var health string
	for name, s := range doc.Components.Schemas {
		if p, ok := s.Properties["health"]; ok && strings.HasPrefix(name, "Webhook") {
			health = strings.TrimPrefix(p.Ref, "#/components/schemas/")
		}
	}
	h, ok := doc.Components.Schemas[health]
	if !ok {
		t.Fatalf("no webhook schema has a health property with a schema of its own (%q)", health)
	}
	for _, field := range []string{"state", "consecutive_failures", "last_error", "failing_since", "last_success_at"} {
		if _, ok := h.Properties[field]; !ok {
			t.Errorf("the health schema lacks %s", field)
		}
	}
	if got := strings.Join(h.Properties["state"].Enum, ","); got != "healthy,failing,disabled" {
		t.Errorf("health states %q, want healthy,failing,disabled", got)
	}
	for _, path := range []string{"/api/v1/deliveries", "/api/v1/webhooks/{id}/deliveries"} {
		found := false
		for _, p := range doc.Paths[path]["get"].Parameters {
			if p.Name == "status" {
				found = slices.Contains(p.Schema.Enum, "retrying")
			}
		}
		if !found {
			t.Errorf("GET %s does not document status=retrying", path)
		}
	}
	if _, ok := doc.Paths["/api/v1/deliveries/{id}/retry"]["post"].Responses["200"].Headers["Herald-Attempt"]; !ok {
		t.Error("the retry's Herald-Attempt header is not documented")
	}
}
