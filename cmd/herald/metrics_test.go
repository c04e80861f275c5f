package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
)

// TestMetrics drives known traffic through a server and reads /metrics: 5 events to a
// webhook that answers 200, 3 to one that answers 500 on a retry schedule of an hour,
// so they stay pending, and a third webhook disabled over the API. Each webhook got a
// ping when it was created, which is delivered (and so counted among the attempts and
// delivery latencies) but is not an event the API accepted.
func TestMetrics(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			args := []string{"--retry-schedule", "1h"}
			if backend == "postgres" {
				args = append(args, "--database-url", postgresDatabase(t), "--encryption-key", newEncryptionKey())
			}
			srv := startServer(t, t.TempDir(), args...)

			ok, failing, off := newReceiver(t), newReceiver(t), newReceiver(t)
			createWebhook := func(rc *receiver, format, eventType string) string {
				t.Helper()
				var wh webhookResource
				if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
					"name": format, "url": rc.URL, "format": format, "events": []string{eventType},
				}, &wh); code != 201 {
					t.Fatalf("create %s webhook: %d", format, code)
				}
				rc.waitFor(t, 1, 10*time.Second) // its ping, answered 200
				return wh.ID
			}
			createWebhook(ok, "standard", "drift.detected")
			createWebhook(failing, "frugally", "compliance.violation")
			failing.setStatus(http.StatusInternalServerError)
			offID := createWebhook(off, "infraaudit", "drift.detected")
			if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+offID, testAdminKey, map[string]any{"enabled": false}, nil); code != 200 {
				t.Fatalf("disable webhook: %d", code)
			}

			seeds := catalogtest.SeedExamples(t)
			publish := func(eventType string, n int) {
				t.Helper()
				for range n {
					if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
						"type": eventType, "data": seeds[eventType],
					}, nil); code != 202 {
						t.Fatalf("publish %s: %d", eventType, code)
					}
				}
			}
			publish("drift.detected", 5)
			publish("compliance.violation", 3)

			// Every attempt is recorded and observed once 11 are counted (3 pings, 5
			// deliveries, 3 failures) and 8 delivery latencies: each attempt is counted
			// after it is recorded, and its latency after that. One scrape reads its
			// collectors in no set order, so the page to check is read after that one.
			if !waitUntil(10*time.Second, func() bool {
				m := scrape(t, srv.URL)
				return m.sum("herald_attempts_total", nil) == 11 && m.sum("herald_delivery_latency_seconds_count", nil) == 8
			}) {
				m := scrape(t, srv.URL)
				t.Fatalf("after 10s: %v attempts counted, %v delivery latencies; want 11 and 8",
					m.sum("herald_attempts_total", nil), m.sum("herald_delivery_latency_seconds_count", nil))
			}
			m := scrape(t, srv.URL)

			for _, c := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"herald_events_accepted_total", map[string]string{"type": "drift.detected"}, 5},
				{"herald_events_accepted_total", map[string]string{"type": "compliance.violation"}, 3},
				{"herald_events_accepted_total", nil, 8}, // pings are not accepted events
				{"herald_attempts_total", map[string]string{"format": "standard", "outcome": "success", "status": "2xx"}, 6},
				{"herald_attempts_total", map[string]string{"format": "frugally", "outcome": "success", "status": "2xx"}, 1},
				{"herald_attempts_total", map[string]string{"format": "frugally", "outcome": "failure", "status": "5xx"}, 3},
				{"herald_attempts_total", map[string]string{"format": "infraaudit", "outcome": "success", "status": "2xx"}, 1},
				{"herald_attempt_duration_seconds_count", nil, 11},
				{"herald_delivery_latency_seconds_count", map[string]string{"format": "standard"}, 6},
				{"herald_delivery_latency_seconds_count", map[string]string{"format": "frugally"}, 1},
				{"herald_delivery_latency_seconds_count", map[string]string{"format": "infraaudit"}, 1},
				{"herald_deliveries_pending", nil, 3},
				{"herald_oldest_pending_delivery_age_seconds", nil, 0}, // due in an hour
				{"herald_webhooks_disabled", nil, 1},
				{"herald_store_operation_duration_seconds_count", map[string]string{"operation": "publish"}, 11},
				{"herald_store_operation_duration_seconds_count", map[string]string{"operation": "record_attempt"}, 11},
			} {
				if got := m.sum(c.name, c.labels); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			for _, c := range []struct {
				name   string
				labels map[string]string
			}{
				{"herald_store_operation_duration_seconds_count", map[string]string{"operation": "claim_due"}},
				{"herald_store_operation_duration_seconds_count", map[string]string{"operation": "backlog"}},
				{"go_goroutines", nil},
			} {
				if got := m.sum(c.name, c.labels); got < 1 {
					t.Errorf("%s%v = %v, want at least 1", c.name, c.labels, got)
				}
			}
			if got := m.sum("herald_delivery_latency_seconds_sum", nil); got <= 0 || got > 10 {
				t.Errorf("delivery latencies sum to %vs, want the few seconds the test took at most", got)
			}
			checkDashboard(t, m)
		})
	}
}

// checkDashboard fails t unless every series the Grafana dashboard queries is on the
// metrics page m, so that renaming a metric cannot leave a panel empty unnoticed.
func checkDashboard(t *testing.T, m metricFamilies) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatalf("read the dashboard: %v", err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	queries := 0
	check := func(where, expr string) {
		for _, name := range heraldSeries.FindAllString(expr, -1) {
			queries++
			if m[strings.TrimSuffix(name, "_bucket")] == nil {
				t.Errorf("dashboard %s queries %s, which /metrics lacks", where, name)
			}
		}
	}
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			check("panel "+strconv.Quote(p.Title), target.Expr)
		}
	}
	for _, v := range dashboard.Templating.List {
		check("variable", v.Definition)
	}
	if queries < 8 {
		t.Errorf("the dashboard queries %d herald series, want a panel for each of at least 8", queries)
	}
}

// heraldSeries matches the names of Herald's series in a PromQL expression.
var heraldSeries = regexp.MustCompile(`\bherald_[a-z_]+\b`)

// TestBacklogCollector checks the gauges against backlogs the store might report,
// including a store that fails: the scrape goes on without the gauges.
func TestBacklogCollector(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name    string
		backlog herald.Backlog
		err     error
		want    map[string]float64 // nil: no gauges
	}{
		{"empty", herald.Backlog{}, nil,
			map[string]float64{"herald_deliveries_pending": 0, "herald_oldest_pending_delivery_age_seconds": 0, "herald_webhooks_disabled": 0}},
		{"behind", herald.Backlog{Pending: 7, OldestPendingDue: timeAt(now.Add(-90 * time.Second)), DisabledWebhooks: 2}, nil,
			map[string]float64{"herald_deliveries_pending": 7, "herald_oldest_pending_delivery_age_seconds": 90, "herald_webhooks_disabled": 2}},
		{"due in the future", herald.Backlog{Pending: 1, OldestPendingDue: timeAt(now.Add(time.Second))}, nil,
			map[string]float64{"herald_deliveries_pending": 1, "herald_oldest_pending_delivery_age_seconds": 0, "herald_webhooks_disabled": 0}},
		{"store fails", herald.Backlog{}, errors.New("database is down"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := &backlogStore{backlog: c.backlog, err: c.err}
			reg := prometheus.NewRegistry()
			reg.MustRegister(newBacklogCollector(st, fixedClock(now), slog.New(slog.DiscardHandler)))
			families, err := reg.Gather()
			if err != nil {
				t.Fatalf("gather: %v (a failing store must not fail the scrape)", err)
			}
			if !st.asked.Equal(now) {
				t.Errorf("Backlog asked at %v, want the clock's %v", st.asked, now)
			}
			got := map[string]float64{}
			for _, f := range families {
				got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
			}
			if len(got) != len(c.want) {
				t.Fatalf("gauges %v, want %v", got, c.want)
			}
			for name, want := range c.want {
				if v, ok := got[name]; !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
				}
			}
		})
	}
}

// TestInstrumentedStoreTimesCalls checks that a call through the timing wrapper
// reaches the store and is timed under its operation.
func TestInstrumentedStoreTimesCalls(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	wrapped, ops := instrumentStore(st)
	if err := wrapped.Ping(t.Context()); err != nil {
		t.Fatalf("ping through the wrapper: %v", err)
	}
	if n := histogramCount(t, ops, "ping"); n != 1 {
		t.Errorf("ping timed %d times, want 1", n)
	}
}

// backlogStore is a store whose Backlog answers what the test says.
type backlogStore struct {
	herald.Store
	backlog herald.Backlog
	err     error
	asked   time.Time
}

func (s *backlogStore) Backlog(_ context.Context, now time.Time) (herald.Backlog, error) {
	s.asked = now
	return s.backlog, s.err
}

// fixedClock is a clock that stays at one time.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// timeAt returns a pointer to a copy of t.
func timeAt(t time.Time) *time.Time { return &t }

// histogramCount returns how many observations h holds for op.
func histogramCount(t *testing.T, h *prometheus.HistogramVec, op string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.WithLabelValues(op).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// metricFamilies is a parsed /metrics page.
type metricFamilies map[string]*dto.MetricFamily

// scrape reads and parses the server's /metrics page.
func scrape(t *testing.T, baseURL string) metricFamilies {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body) // only for the failure message
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// sum adds up the values of the series named name whose labels include labels. A name
// ending in _count or _sum reads that part of a histogram.
func (m metricFamilies) sum(name string, labels map[string]string) float64 {
	family, part := m[name], ""
	if family == nil {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && m[base] != nil {
				family, part = m[base], suffix
			}
		}
	}
	if family == nil {
		return 0
	}
	var total float64
series:
	for _, s := range family.GetMetric() {
		for k, v := range labels {
			if !hasLabel(s, k, v) {
				continue series
			}
		}
		switch {
		case part == "_count":
			total += float64(s.GetHistogram().GetSampleCount())
		case part == "_sum":
			total += s.GetHistogram().GetSampleSum()
		case s.Counter != nil:
			total += s.GetCounter().GetValue()
		case s.Gauge != nil:
			total += s.GetGauge().GetValue()
		case s.Untyped != nil:
			total += s.GetUntyped().GetValue()
		}
	}
	return total
}

func hasLabel(s *dto.Metric, name, value string) bool {
	for _, l := range s.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
