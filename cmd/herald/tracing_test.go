package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/catalog/catalogtest"
)

// collectedSpan is a span as an OTLP collector received it.
type collectedSpan struct {
	service string // the resource's service.name
	*tracev1.Span
}

func (s collectedSpan) traceID() string  { return hex.EncodeToString(s.TraceId) }
func (s collectedSpan) spanID() string   { return hex.EncodeToString(s.SpanId) }
func (s collectedSpan) parentID() string { return hex.EncodeToString(s.ParentSpanId) }

// attr returns the span's attribute key as a string ("" when missing).
func (s collectedSpan) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return anyValue(kv.Value)
		}
	}
	return ""
}

func anyValue(v *commonv1.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case *commonv1.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonv1.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return fmt.Sprint(v)
}

// collector is an in-process OTLP/HTTP trace collector: it accepts POST /v1/traces
// with protobuf bodies and keeps every span.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []collectedSpan
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			t.Errorf("collector: %s %s, want POST /v1/traces", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("collector: %v", err)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("collector: read: %v", err)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			t.Errorf("collector: decode %s body: %v", r.Header.Get("Content-Type"), err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = anyValue(kv.Value)
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, collectedSpan{service: service, Span: s})
				}
			}
		}
		c.mu.Unlock()
		resp, err := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		if err != nil {
			t.Errorf("collector: encode response: %v", err)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(resp) //nolint:errcheck // the exporter retries if the answer is lost
	}))
	t.Cleanup(c.Close)
	return c
}

// named returns the spans received so far that are called name.
func (c *collector) named(name string) []collectedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []collectedSpan
	for _, s := range c.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.spans)
}

// flakyReceiver fails the first drift.detected delivery with 500 and accepts the rest,
// and everything else (the creation ping), keeping the drift deliveries' headers.
type flakyReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	drift []http.Header
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	t.Helper()
	rc := &flakyReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Type string `json:"type"`
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			t.Errorf("receiver: decode: %v", err)
		}
		if env.Type != "drift.detected" {
			return // 200
		}
		rc.mu.Lock()
		rc.drift = append(rc.drift, r.Header.Clone())
		first := len(rc.drift) == 1
		rc.mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *flakyReceiver) headers() []http.Header {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.drift)
}

// tracedAttempt is the part of an attempt the tracing tests read.
type tracedAttempt struct {
	Number     int    `json:"number"`
	StatusCode int    `json:"status_code"`
	Success    bool   `json:"success"`
	TraceID    string `json:"trace_id"`
}

// deliverFlaky creates a webhook at a receiver that fails the first attempt, publishes
// one drift.detected event, and waits until its delivery succeeds on the retry. It
// returns the event's id, the delivery's id and webhook's id, the delivery's attempts as
// GET /api/v1/deliveries/{id} shows them, and the receiver.
func deliverFlaky(t *testing.T, srv *testServer) (eventID, deliveryID, webhookID string, attempts []tracedAttempt, rc *flakyReceiver) {
	t.Helper()
	rc = newFlakyReceiver(t)
	var wh webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "flaky", "url": rc.URL, "format": "standard", "events": []string{"drift.detected"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	var published struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
		"type": "drift.detected", "data": catalogtest.SeedExamples(t)["drift.detected"],
	}, &published); code != 202 || published.Deliveries != 1 {
		t.Fatalf("publish: %d %+v, want 202 with 1 delivery", code, published)
	}

	var ev struct {
		Deliveries []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	if !waitUntil(15*time.Second, func() bool {
		api(t, srv.URL, "GET", "/api/v1/events/"+published.ID, testAdminKey, nil, &ev)
		return len(ev.Deliveries) == 1 && ev.Deliveries[0].Status == "success"
	}) {
		t.Fatalf("event %s deliveries after 15s: %+v, want one that succeeded", published.ID, ev.Deliveries)
	}
	var d struct {
		Attempts []tracedAttempt `json:"attempts"`
	}
	if code := api(t, srv.URL, "GET", "/api/v1/deliveries/"+ev.Deliveries[0].ID, testAdminKey, nil, &d); code != 200 {
		t.Fatalf("get delivery: %d", code)
	}
	if len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 500 || !d.Attempts[1].Success {
		t.Fatalf("attempts = %+v, want a 500 and then a success", d.Attempts)
	}
	return published.ID, ev.Deliveries[0].ID, wh.ID, d.Attempts, rc
}

// storedTraceParent reads the traceparent stored with an event in a stopped server's
// SQLite database.
func storedTraceParent(t *testing.T, srv *testServer, eventID string) string {
	t.Helper()
	srv.stop()
	var tp string
	db := openReadOnly(t, filepath.Join(srv.DataDir, "herald.db"))
	if err := db.QueryRow("SELECT traceparent FROM events WHERE id = ?", eventID).Scan(&tp); err != nil {
		t.Fatalf("read the event's traceparent: %v", err)
	}
	return tp
}

// TestTracing runs a server that exports to an in-process OTLP collector, and delivers
// one event whose first attempt fails: one trace holds the publish span and both
// attempt spans, its children, and the attempt log carries the trace's id.
func TestTracing(t *testing.T) {
	t.Parallel()
	col := newCollector(t)
	srv := startServerEnv(t, t.TempDir(), map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
	}, "--retry-schedule", "50ms")
	eventID, deliveryID, webhookID, attempts, rc := deliverFlaky(t, srv)

	if !waitUntil(10*time.Second, func() bool {
		return len(col.named("publish drift.detected")) >= 1 && len(col.named("attempt drift.detected")) >= 2
	}) {
		t.Fatalf("the collector got %d publish and %d attempt spans in 10s, want 1 and 2",
			len(col.named("publish drift.detected")), len(col.named("attempt drift.detected")))
	}
	pubs, sent := col.named("publish drift.detected"), col.named("attempt drift.detected")
	if len(pubs) != 1 || len(sent) != 2 {
		t.Fatalf("the collector got %d publish and %d attempt spans, want 1 and 2", len(pubs), len(sent))
	}
	pub := pubs[0]
	if pub.service != "herald" {
		t.Errorf("service.name = %q, want herald", pub.service)
	}
	if pub.Kind != tracev1.Span_SPAN_KIND_PRODUCER || len(pub.ParentSpanId) != 0 {
		t.Errorf("publish span: kind %v, parent %q; want a producer span that starts the trace", pub.Kind, pub.parentID())
	}
	for key, want := range map[string]string{
		"herald.event.id": eventID, "herald.event.type": "drift.detected", "herald.tenant.id": "default", "herald.deliveries": "1",
	} {
		if got := pub.attr(key); got != want {
			t.Errorf("publish span %s = %q, want %q", key, got, want)
		}
	}

	slices.SortFunc(sent, func(a, b collectedSpan) int {
		return strings.Compare(a.attr("herald.attempt.number"), b.attr("herald.attempt.number"))
	})
	for i, s := range sent {
		if s.traceID() != pub.traceID() || s.parentID() != pub.spanID() {
			t.Errorf("attempt span %d: trace %s, parent %s; want a child of the publish span %s in trace %s",
				i+1, s.traceID(), s.parentID(), pub.spanID(), pub.traceID())
		}
		if s.Kind != tracev1.Span_SPAN_KIND_CLIENT {
			t.Errorf("attempt span %d: kind %v, want client", i+1, s.Kind)
		}
		want := map[string]string{
			"herald.delivery.id": deliveryID, "herald.webhook.id": webhookID, "herald.attempt.number": fmt.Sprint(i + 1),
			"http.response.status_code": []string{"500", "200"}[i], "herald.attempt.success": []string{"false", "true"}[i],
		}
		for key, want := range want {
			if got := s.attr(key); got != want {
				t.Errorf("attempt span %d %s = %q, want %q", i+1, key, got, want)
			}
		}
		failed := s.GetStatus().GetCode() == tracev1.Status_STATUS_CODE_ERROR
		if failed != (i == 0) {
			t.Errorf("attempt span %d status %v, want an error only for the failed attempt", i+1, s.GetStatus())
		}
	}

	for _, a := range attempts {
		if a.TraceID != pub.traceID() {
			t.Errorf("attempt %d trace_id %q, want the publish's trace %s", a.Number, a.TraceID, pub.traceID())
		}
	}
	// The trace stays in Herald: receivers get no trace context.
	for i, h := range rc.headers() {
		if h.Get("Traceparent") != "" || h.Get("Tracestate") != "" {
			t.Errorf("delivery request %d carried trace headers %q %q", i+1, h.Get("Traceparent"), h.Get("Tracestate"))
		}
	}
	want := "00-" + pub.traceID() + "-" + pub.spanID() + "-01"
	if got := storedTraceParent(t, srv, eventID); got != want {
		t.Errorf("stored traceparent %q, want %q", got, want)
	}
}

// TestTracingOff delivers the same way without OTEL_EXPORTER_OTLP_ENDPOINT: nothing is
// exported, no trace context is stored, and attempts have no trace id.
func TestTracingOff(t *testing.T) {
	t.Parallel()
	col := newCollector(t)
	srv := startServerEnv(t, t.TempDir(), map[string]string{
		"OTEL_BSP_SCHEDULE_DELAY": "100", // everything but the endpoint
	}, "--retry-schedule", "50ms")
	eventID, _, _, attempts, _ := deliverFlaky(t, srv)
	for _, a := range attempts {
		if a.TraceID != "" {
			t.Errorf("attempt %d has trace_id %q with tracing off", a.Number, a.TraceID)
		}
	}
	if tp := storedTraceParent(t, srv, eventID); tp != "" { // stops the server, flushing any exporter
		t.Errorf("stored traceparent %q with tracing off, want none", tp)
	}
	if n := col.count(); n != 0 {
		t.Errorf("the collector got %d spans with tracing off", n)
	}
}

// TestSetupTracing checks when tracing is on and where it exports to.
func TestSetupTracing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // the traces URL; "" for off
		err  string // part of the error, if one is wanted
	}{
		{"Unset", nil, "", ""},
		{"Base", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}, "http://otel:4318/v1/traces", ""},
		{"BaseWithPath", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example/otlp/"}, "https://otel.example/otlp/v1/traces", ""},
		{"TracesAsIs", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://otel:4318/custom"}, "http://otel:4318/custom", ""},
		{"TracesWins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318"}, "http://b:4318/", ""},
		{"Disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_SDK_DISABLED": "true"}, "", ""},
		{"NoScheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "otel:4318"}, "", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"BadDelay", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_BSP_SCHEDULE_DELAY": "5s"}, "", "OTEL_BSP_SCHEDULE_DELAY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			var logs bytes.Buffer
			tp, stop, err := setupTracing(t.Context(), getenv, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			_, off := tp.(noop.TracerProvider)
			if off != (tc.want == "") {
				t.Errorf("provider %T, want tracing on = %v", tp, tc.want != "")
			}
			if tc.want != "" && !strings.Contains(logs.String(), tc.want) {
				t.Errorf("log %q does not name the endpoint %s", logs.String(), tc.want)
			}
		})
	}
}
