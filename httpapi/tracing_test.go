package httpapi_test

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
)

// TestPublishSpans publishes one event and a batch with a tracer provider: every event
// stored gets a span of its own, the root of its own trace, whose traceparent is stored
// with the event; a refused item stores nothing and a repeat says so.
func TestPublishSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	e := newEnv(t, func(c *httpapi.Config) { c.TracerProvider = tp })

	var one struct{ ID string }
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &one)
	var batch struct{ Results []struct{ Status int } }
	e.must(http.StatusAccepted, "POST", "/api/v1/events/batch", e.adminKey, map[string]any{"events": []any{
		driftEvent(map[string]any{"id": "evt-a"}),
		driftEvent(map[string]any{"data": map[string]any{}}), // refused by the schema
		driftEvent(map[string]any{"id": "evt-a"}),            // a repeat
	}}, &batch)
	if len(batch.Results) != 3 || batch.Results[0].Status != 202 || batch.Results[1].Status != 422 || batch.Results[2].Status != 200 {
		t.Fatalf("batch results = %+v, want 202, 422, 200", batch.Results)
	}

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans ended, want 3 (one per event stored or repeated)", len(spans))
	}
	traces := map[trace.TraceID]bool{}
	for i, s := range spans {
		attrs := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			attrs[kv.Key] = kv.Value
		}
		id, dup := attrs["herald.event.id"].AsString(), i == 2
		if s.Name() != "publish drift.detected" || s.SpanKind() != trace.SpanKindProducer || s.Parent().IsValid() {
			t.Errorf("span %d: %q kind %v parent %v, want a root producer span publish drift.detected", i, s.Name(), s.SpanKind(), s.Parent())
		}
		if want := []string{one.ID, "evt-a", "evt-a"}[i]; id != want || attrs["herald.tenant.id"].AsString() != herald.DefaultTenantID ||
			attrs["herald.deliveries"].AsInt64() != 0 || attrs["herald.duplicate"].AsBool() != dup {
			t.Errorf("span %d attributes %v, want event %s of the default tenant, 0 deliveries, duplicate %v", i, attrs, want, dup)
		}
		traces[s.SpanContext().TraceID()] = true
		if dup {
			continue // the event keeps the first publish's trace
		}
		ev, err := e.store.Event(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
		if ev.TraceParent != want {
			t.Errorf("event %s traceparent %q, want %q", id, ev.TraceParent, want)
		}
	}
	if len(traces) != 3 {
		t.Errorf("%d traces for 3 publishes, want one each", len(traces))
	}
}

// TestPublishUntraced publishes without a tracer provider: the event has no traceparent.
func TestPublishUntraced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var one struct{ ID string }
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, driftEvent(nil), &one)
	ev, err := e.store.Event(t.Context(), one.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.TraceParent != "" {
		t.Errorf("untraced event has traceparent %q", ev.TraceParent)
	}
}
