package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

// TestPublisher publishes as POST /api/v1/events does: the same event stored and shown by
// the API, a repeat of a key or id returning the first, the same refusals and counter.
func TestPublisher(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook(e.adminKey, nil)
	pub := httpapi.NewPublisher(httpapi.Config{Store: e.store, Catalog: e.catalog, Dispatcher: e.disp, Metrics: e.metrics})
	ctx := context.Background()
	body := []byte(`{"type":"drift.detected","tenant_id":"default","data":` + driftData + `}`)

	first, err := pub.Publish(ctx, body, "queue:1")
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if first.Duplicate || first.Deliveries != 1 || !strings.HasPrefix(first.EventID, "evt_") {
		t.Errorf("first publish: %+v, want a new evt_ event with 1 delivery", first)
	}
	again, err := pub.Publish(ctx, body, "queue:1")
	if err != nil || !again.Duplicate || again.EventID != first.EventID {
		t.Errorf("same key again: %+v %v, want a repeat of %s", again, err, first.EventID)
	}
	withID := []byte(`{"type":"drift.detected","id":"order-7","data":` + driftData + `}`)
	for range 2 {
		if _, err := pub.Publish(ctx, withID, ""); err != nil {
			t.Fatalf("Publish with an id: %v", err)
		}
	}
	e.must(http.StatusOK, http.MethodGet, "/api/v1/events/"+first.EventID, e.adminKey, nil, nil)
	e.must(http.StatusOK, http.MethodGet, "/api/v1/events/order-7", e.adminKey, nil, nil)
	// The API sees the same id as a repeat: one store, one rule.
	e.must(http.StatusOK, http.MethodPost, "/api/v1/events", e.adminKey, withID, nil)
	if got := acceptedEvents(t, e, "drift.detected"); got != 2 {
		t.Errorf("herald_events_accepted_total %v, want 2 (repeats are not counted)", got)
	}

	for name, c := range map[string]struct {
		body []byte
		code string
	}{
		"data against its schema": {[]byte(`{"type":"drift.detected","data":{"drift_id":"x"}}`), herald.EINVALID},
		"unknown type":            {[]byte(`{"type":"no.such","data":{}}`), herald.EINVALID},
		"unknown field":           {[]byte(`{"type":"drift.detected","data":{},"extra":1}`), herald.EINVALID},
		"not an object":           {[]byte(`[1,2]`), herald.EINVALID},
		"not JSON":                {[]byte(`type=x`), herald.EINVALID},
		"no such tenant":          {[]byte(`{"type":"drift.detected","tenant_id":"nobody","data":` + driftData + `}`), herald.EINVALID},
		"bad id":                  {[]byte(`{"type":"drift.detected","id":"a b","data":` + driftData + `}`), herald.EINVALID},
		"over 1 MiB":              {append(append([]byte(`{"type":"drift.detected","data":"`), bytes.Repeat([]byte("a"), 1<<20)...), `"}`...), herald.ETOOLARGE},
	} {
		_, err := pub.Publish(ctx, c.body, "")
		if herald.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	// Routing fields pass through, checked as the API checks them.
	routed := []byte(`{"type":"drift.detected","id":"routed-1","channels":["prod","eu-west-1"],"ordering_key":"customer_42","data":` + driftData + `}`)
	if _, err := pub.Publish(ctx, routed, ""); err != nil {
		t.Fatalf("Publish with channels and an ordering key: %v", err)
	}
	ev, err := e.store.Event(ctx, "routed-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ev.Channels, ",") != "prod,eu-west-1" || ev.OrderingKey != "customer_42" {
		t.Errorf("stored channels %v and ordering key %q, want [prod eu-west-1] and customer_42", ev.Channels, ev.OrderingKey)
	}
	badChannel := []byte(`{"type":"drift.detected","channels":["Not Valid"],"data":` + driftData + `}`)
	if _, err := pub.Publish(ctx, badChannel, ""); herald.ErrorCode(err) != herald.EINVALID {
		t.Errorf("an invalid channel: %v, want %s", err, herald.EINVALID)
	}
	if _, err := pub.Publish(ctx, body, strings.Repeat("k", 256)); herald.ErrorCode(err) != herald.EINVALID {
		t.Errorf("a 256-byte key: %v, want %s", err, herald.EINVALID)
	}
}

// acceptedEvents reads herald_events_accepted_total of typ from e's registry.
func acceptedEvents(t *testing.T, e *env, typ string) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_events_accepted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
