package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
)

// hookURL is an endpoint URL that never needs DNS (tests send nothing anywhere).
var logOut io.Writer = io.Discard

const hookURL = "http://127.0.0.1:9/hook"

// env is one API over a fresh SQLite store, with the admin key and a fake dispatcher.
type env struct {
	t        testing.TB
	handler  http.Handler
	store    herald.Store
	catalog  *catalog.Catalog
	disp     *fakeDispatcher
	metrics  *prometheus.Registry
	adminKey string
}

type envOption func(*httpapi.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatalf("secretbox.New: %v", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "herald.db"), box)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() }) // a second Close after a test closed it is harmless
	if err := st.CreateTenant(ctx, &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
		herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil {
		t.Fatalf("create default tenant: %v", err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	e := &env{
		t:        t,
		store:    st,
		catalog:  cat,
		disp:     &fakeDispatcher{store: st},
		metrics:  prometheus.NewRegistry(),
		adminKey: herald.NewAPIKey(herald.PrefixAdminKey),
	}
	cfg := httpapi.Config{
		Store:         st,
		Catalog:       cat,
		Dispatcher:    e.disp,
		URLs:          &egress.Guard{AllowPrivate: true},
		AdminKeyHash:  herald.HashKey(e.adminKey),
		DefaultFormat: herald.FormatStandard,
		Logger:        slog.New(slog.NewTextHandler(logOut, nil)),
		Version:       "test",
		Metrics:       e.metrics,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.store = cfg.Store
	e.handler = httpapi.New(cfg)
	return e
}

// response is a finished request.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request as key ("" for none). body is sent as is when a string or []byte,
// JSON-encoded otherwise, and not at all when nil. hdr adds name, value pairs.
func (e *env) do(method, path, key string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode request body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// must sends a request and fails the test unless it answers want; it decodes the body
// into out when out is not nil.
func (e *env) must(want int, method, path, key string, body, out any, hdr ...string) response {
	e.t.Helper()
	r := e.do(method, path, key, body, hdr...)
	if r.code != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.code, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// errorBody is the API's error shape.
type errorBody struct {
	Error   *string `json:"error"`
	Code    *string `json:"code"`
	Details *string `json:"details"`
}

// checkError fails unless r is the API's error shape with the given status and code.
func checkError(t testing.TB, r response, status int, code string) errorBody {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d; body %s", r.code, status, r.body)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("error body is not a JSON object: %s", r.body)
	}
	for k := range fields {
		if k != "error" && k != "code" && k != "details" {
			t.Errorf("error body has unexpected field %q: %s", k, r.body)
		}
	}
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error == nil || b.Code == nil || b.Details == nil {
		t.Fatalf("error body lacks error, code or details: %s", r.body)
	}
	if *b.Error == "" {
		t.Errorf("error body has an empty message: %s", r.body)
	}
	if *b.Code != code {
		t.Errorf("code %q, want %q; body %s", *b.Code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	return b
}

// createTenant makes a tenant through the API and returns its key.
func (e *env) createTenant(id string) string {
	e.t.Helper()
	var out struct {
		APIKey string `json:"api_key"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/tenants", e.adminKey, map[string]any{"id": id, "name": "Tenant " + id}, &out)
	return out.APIKey
}

// webhookResp is the webhook resource as the tests read it.
type webhookResp struct {
	ID             string            `json:"id"`
	TenantID       string            `json:"tenant_id"`
	Name           string            `json:"name"`
	URL            string            `json:"url"`
	Events         []string          `json:"events"`
	Enabled        bool              `json:"enabled"`
	Format         string            `json:"format"`
	Headers        map[string]string `json:"headers"`
	DisabledReason string            `json:"disabled_reason"`
	Secret         string            `json:"secret"`
}

// createWebhook registers a webhook as key with extra fields merged into a valid body.
func (e *env) createWebhook(key string, extra map[string]any) webhookResp {
	e.t.Helper()
	body := map[string]any{"name": "hook", "url": hookURL}
	for k, v := range extra {
		body[k] = v
	}
	var w webhookResp
	e.must(http.StatusCreated, "POST", "/api/v1/webhooks", key, body, &w)
	return w
}

// countDeliveries returns how many deliveries the store holds, all tenants, all types
// but type ("" for every type).
func (e *env) countDeliveries(f herald.DeliveryFilter) int {
	e.t.Helper()
	f.PerPage = 1
	_, total, err := e.store.Deliveries(context.Background(), f)
	if err != nil {
		e.t.Fatalf("Deliveries: %v", err)
	}
	return total
}

// driftData is the seed's drift.detected example.
const driftData = `{"drift_id":55,"drift_type":"security","severity":"critical","resource_id":5,` +
	`"resource_name":"data-lake-bucket","resource_type":"s3_bucket","provider_id":1,` +
	`"summary":"BlockPublicAcls changed from true to false","detected_at":"2024-01-15T14:30:00Z"}`

func driftEvent(extra map[string]any) map[string]any {
	ev := map[string]any{"type": "drift.detected", "data": json.RawMessage(driftData)}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

// fakeDispatcher records Wake calls; DeliverNow records a successful attempt through the
// store, as the real dispatcher would after a 200.
type fakeDispatcher struct {
	store herald.Store

	mu      sync.Mutex
	wakes   int
	deliver func(ctx context.Context, id string) (*herald.Attempt, error) // overrides when set
}

func (d *fakeDispatcher) Wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wakes++
}

func (d *fakeDispatcher) Wakes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wakes
}

func (d *fakeDispatcher) DeliverNow(ctx context.Context, id string) (*herald.Attempt, error) {
	if d.deliver != nil {
		return d.deliver(ctx, id)
	}
	now := time.Now().UTC()
	if _, err := d.store.ClaimDelivery(ctx, id, "test", now, now.Add(time.Minute)); err != nil {
		return nil, err
	}
	a := herald.Attempt{
		ID: herald.NewID(herald.PrefixAttempt), DeliveryID: id, At: now,
		StatusCode: 200, DurationMS: 3, Success: true,
	}
	out, err := d.store.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "test", Attempt: a, Status: herald.StatusSuccess})
	if err != nil {
		return nil, err
	}
	a.Number = out.Number
	return &a, nil
}
