package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * 24 * time.Hour}, {"1d", 24 * time.Hour}, {"36h", 36 * time.Hour},
		{"90m", 90 * time.Minute}, {"2s", 2 * time.Second}, {"0", 0}, {"0d", 0},
	} {
		if got, err := parseRetention(tt.in); err != nil || got != tt.want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "-5m", "30days", "1.5d", "x", "99999999999999d"} {
		if got, err := parseRetention(in); err == nil {
			t.Errorf("parseRetention(%q) = %v, want an error", in, got)
		}
	}
	if _, err := parseServe([]string{"--retention", "30d", "--retention-interval", "0s"}, &syncBuffer{}, func(string) string { return "" }); err == nil {
		t.Error("--retention with a zero --retention-interval: no error")
	}
	cfg, err := parseServe(nil, &syncBuffer{}, func(k string) string { return map[string]string{"HERALD_RETENTION": "7d"}[k] })
	if err != nil || time.Duration(cfg.retention.period) != 7*24*time.Hour {
		t.Errorf("HERALD_RETENTION=7d: %v, %v", cfg, err)
	}
}

// TestRetentionPurgesWhileDelivering runs a server with a retention of 2 s over 20,000
// finished deliveries (1,000 events to 20 webhooks) and checks that they lose their
// payloads, keep their metadata, that an event with a delivery still retrying keeps its
// data, and that a steady stream of deliveries keeps flowing while the purge runs,
// measuring its latency. The purge runs at start and then every 10 s, so the 20,000
// are purged in one pass once delivered.
func TestRetentionPurgesWhileDelivering(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 deliveries: skipped with -short")
	}
	const bulkEvents, bulkWebhooks, bulk = 1000, 20, 1000 * 20
	srv := startServer(t, filepath.Join(t.TempDir(), "data"), "--retention", "2s", "--retention-interval", "10s",
		"--retry-schedule", "1h")

	// The stream: ping events to a receiver that notes when each arrives.
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived[r.Header.Get("webhook-id")] = time.Now()
		mu.Unlock()
	}))
	t.Cleanup(stream.Close)
	bulkRc, failing := newReceiver(t), newReceiver(t)
	failing.setStatus(http.StatusInternalServerError)
	hook := func(url string, events ...string) string {
		var w struct{ ID string }
		if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "r", "url": url, "events": events}, &w); code != http.StatusCreated {
			t.Fatalf("create webhook: %d", code)
		}
		return w.ID
	}
	hook(stream.URL, "ping")
	hook(bulkRc.URL, "alert.created")
	for range bulkWebhooks {
		hook(bulkRc.URL, "drift.detected")
	}
	failingHook := hook(failing.URL, "alert.created")
	var types []struct {
		Type   string
		Sample json.RawMessage
	}
	api(t, srv.URL, "GET", "/api/v1/event-types", testAdminKey, nil, &types)
	sample := map[string]json.RawMessage{}
	for _, et := range types {
		sample[et.Type] = et.Sample
	}

	// One event with a delivery that succeeds and one that keeps failing (retried in
	// an hour): it must keep its data.
	var mixed struct{ ID string }
	api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{"type": "alert.created", "data": sample["alert.created"]}, &mixed)

	// The bulk: 1,000 events, 20 deliveries each, all succeeding.
	var lastBulk string
	for i := 0; i < bulkEvents; i += 1000 {
		events := make([]map[string]any, 1000)
		for j := range events {
			events[j] = map[string]any{"type": "drift.detected", "data": sample["drift.detected"]}
		}
		var out struct{ Results []struct{ ID string } }
		if code := api(t, srv.URL, "POST", "/api/v1/events/batch", testAdminKey, map[string]any{"events": events}, &out); code != http.StatusAccepted {
			t.Fatalf("publish batch: %d", code)
		}
		lastBulk = out.Results[len(out.Results)-1].ID
	}
	firstBulkDelivery := deliveryOfEvent(t, srv.URL, lastBulk)
	started := time.Now()
	bulkRc.waitFor(t, bulk+1, 2*time.Minute)
	bulkDone := time.Now()
	t.Logf("%d bulk deliveries done in %s", bulk, bulkDone.Sub(started).Round(time.Millisecond))

	// The stream runs from now until every bulk event has lost its data.
	pub := startPublishing(srv.URL)
	defer pub.stop()
	purgedAt := time.Time{}
	for deadline := time.Now().Add(2 * time.Minute); purgedAt.IsZero(); {
		var e struct{ Data json.RawMessage }
		api(t, srv.URL, "GET", "/api/v1/events/"+lastBulk, testAdminKey, nil, &e)
		if string(e.Data) == "null" {
			purgedAt = time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last bulk event still has its data 2 minutes after its delivery finished")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // stream deliveries published during the purge arrive
	pub.stop()

	// Every event of the stream arrived; none waited long while the purge ran.
	published := pub.accepted()
	var latencies []time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range published {
		for {
			mu.Lock()
			at, ok := arrived[id]
			mu.Unlock()
			if ok {
				latencies = append(latencies, at.Sub(eventCreated(t, srv.URL, id)))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream event %s never arrived while the purge ran", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	t.Logf("the last of %d deliveries (%d events) purged %s after the bulk was delivered; the stream delivered %d events from then until the purge ended: latency p50 %s, p99 %s, max %s",
		bulk, bulkEvents, purgedAt.Sub(bulkDone).Round(time.Millisecond), len(latencies), p(.5), p(.99), p(1))
	if len(latencies) < 20 {
		t.Errorf("only %d stream events published during the purge; the publisher stalled", len(latencies))
	}
	if p(.99) > 2*time.Second {
		t.Errorf("stream p99 latency %s during the purge, want under 2s: the purge blocks delivery", p(.99))
	}

	// A bulk delivery kept its metadata and lost its response body.
	var d struct {
		Status   string
		Attempts []struct {
			StatusCode     int            `json:"status_code"`
			ResponseBody   string         `json:"response_body"`
			RequestHeaders map[string]any `json:"request_headers"`
		}
	}
	api(t, srv.URL, "GET", "/api/v1/deliveries/"+firstBulkDelivery, testAdminKey, nil, &d)
	if d.Status != "success" || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 || len(d.Attempts[0].RequestHeaders) == 0 {
		t.Errorf("purged delivery lost its metadata: %+v", d)
	}

	// The event with a delivery still retrying keeps its data.
	var e struct{ Data json.RawMessage }
	api(t, srv.URL, "GET", "/api/v1/events/"+mixed.ID, testAdminKey, nil, &e)
	if string(e.Data) == "null" {
		t.Error("an event whose delivery is still retrying lost its data")
	}
	var pending []struct{ Status string }
	api(t, srv.URL, "GET", "/api/v1/webhooks/"+failingHook+"/deliveries", testAdminKey, nil, &pending)
	if len(pending) == 0 || pending[len(pending)-1].Status != "pending" {
		t.Errorf("the failing webhook's delivery: %+v, want pending", pending)
	}

	// A retry of a purged delivery is refused; nothing is sent.
	before := len(bulkRc.requests())
	code := api(t, srv.URL, "POST", "/api/v1/deliveries/"+firstBulkDelivery+"/retry", testAdminKey, nil, nil)
	t.Logf("retry of a purged delivery answers %d", code)
	if code < 400 {
		t.Errorf("retry of a delivery whose payload was purged answered %d, want a refusal", code)
	}
	if got := len(bulkRc.requests()); got != before {
		t.Errorf("a purged delivery's retry reached the receiver")
	}
}

// deliveryOfEvent returns the id of one of the event's deliveries.
func deliveryOfEvent(t *testing.T, baseURL, eventID string) string {
	t.Helper()
	var e struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	api(t, baseURL, "GET", "/api/v1/events/"+eventID, testAdminKey, nil, &e)
	if len(e.Deliveries) == 0 {
		t.Fatalf("event %s has no deliveries", eventID)
	}
	return e.Deliveries[0].ID
}

// eventCreated returns when the server accepted event id.
func eventCreated(t *testing.T, baseURL, id string) time.Time {
	t.Helper()
	var e struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if code := api(t, baseURL, "GET", "/api/v1/events/"+id, testAdminKey, nil, &e); code != http.StatusOK {
		t.Fatalf("get event %s: %d", id, code)
	}
	return e.CreatedAt
}
