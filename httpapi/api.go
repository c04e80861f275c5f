package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald"
)

// Catalog is the event catalog the API validates events against and lists;
// *catalog.Catalog satisfies it. It must be safe for concurrent use.
type Catalog interface {
	// Validate checks data against typ's schema: an EINVALID error naming the failing
	// JSON pointer, or naming the type when it is unknown.
	Validate(typ string, data json.RawMessage) error
	// Lookup returns the type named typ, if the catalog has it.
	Lookup(typ string) (herald.EventType, bool)
	// List returns every type.
	List() []herald.EventType
	// Add adds a custom type: EINVALID for a bad name or schema, ECONFLICT if it exists.
	Add(t herald.EventType) error
	// Check says whether Add would accept t, without adding it.
	Check(t herald.EventType) error
}

// Dispatcher is the part of the dispatcher the API drives.
type Dispatcher interface {
	// Wake tells the dispatcher new work is committed, so it starts it now rather than at
	// its next poll.
	Wake()
	// DeliverNow claims one delivery whatever its state, sends it, records the attempt
	// and returns it. ECONFLICT if someone else holds the delivery now.
	DeliverNow(ctx context.Context, deliveryID string) (*herald.Attempt, error)
}

// URLChecker refuses endpoint URLs Herald must not send to; *egress.Guard satisfies it.
type URLChecker interface {
	// CheckURL returns an EINVALID error saying why rawURL cannot be an endpoint.
	CheckURL(ctx context.Context, rawURL string) error
}

// Config is what the API needs. Store, Catalog, Dispatcher and URLs are required; the
// others have defaults.
type Config struct {
	Store      herald.Store
	Catalog    Catalog
	Dispatcher Dispatcher
	URLs       URLChecker
	// AdminKeyHash is herald.HashKey of the admin key. Empty, no key is admin.
	AdminKeyHash []byte
	// DefaultFormat is the format of webhooks created without one; default standard.
	DefaultFormat herald.Format
	// Clock defaults to herald.SystemClock.
	Clock herald.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Version is the release shown in the OpenAPI description and /healthz.
	Version string
	// Metrics is served at /metrics, and the API registers its own counters on it; nil
	// gives the API a registry of its own.
	Metrics *prometheus.Registry
	// Notices, when set, is told when an update enables a disabled webhook
	// (webhook.enabled) or disables an enabled one (webhook.disabled). It is called
	// while the request is answered, so it must not block for long. The dispatcher is
	// woken after, so a delivery the notice queued (to the operator webhook) starts at
	// once.
	Notices func(ctx context.Context, n herald.Notice)
	// TracerProvider, when set, traces every publish (see herald.Event.TraceParent).
	TracerProvider trace.TracerProvider
	// RateLimits limits requests per API key and failed authentications per client
	// address, answering 429 with Retry-After; the zero value limits nothing. /healthz,
	// /readyz, /metrics and /openapi.json are never limited.
	RateLimits RateLimits
	// MetricsToken, when set, is a bearer token that may read /metrics besides the
	// admin key, for a Prometheus that should hold nothing more powerful.
	MetricsToken string
	// MetricsPublic serves /metrics to anyone. Otherwise it answers 401 without the
	// admin key or MetricsToken as Authorization: Bearer.
	MetricsPublic bool
	// MaxWebhooksPerTenant caps the webhooks of one tenant (409 beyond it); the default
	// tenant is exempt. 0 is no cap.
	MaxWebhooksPerTenant int
	// StoreTimeout bounds each request's work with the store (all but the webhook test,
	// which waits for a delivery attempt), so a database that stops answering (a
	// network partition drops packets rather than refusing them) makes a 503 rather than
	// a request that hangs. Default 15 s, above SQLite's 10 s busy timeout so that a
	// lock held too long reports itself first; negative for none.
	StoreTimeout time.Duration
	// PublicURL is the origin browsers reach Herald at (https://herald.example.com), that
	// portal links are built on; "" builds them on each request's own scheme and host.
	PublicURL string
}

// defaultStoreTimeout is StoreTimeout's default.
const defaultStoreTimeout = 15 * time.Second

// Body size limits. huma refuses a body whose length reaches an operation's limit, so
// operations are registered with one byte more.
const (
	maxBody      = 1 << 20  // every request
	maxBatchBody = 16 << 20 // POST /api/v1/events/batch
)

// server holds the API's dependencies; its methods are the operation handlers.
type server struct {
	store      herald.Store
	catalog    Catalog
	dispatcher Dispatcher
	urls       URLChecker
	adminHash  []byte
	format     herald.Format
	clock      herald.Clock
	log        *slog.Logger
	version    string
	metrics    *apiMetrics
	notices    func(ctx context.Context, n herald.Notice)
	tracer     trace.Tracer
	limits     RateLimits
	tenantRate *limiter // per tenant key; nil is no limit
	adminRate  *limiter
	failRate   *limiter // failed authentications per client address
	storeLimit time.Duration

	maxWebhooks int
	quotaMu     sync.Mutex // held from a capped tenant's webhook count to its insert
	publicURL   string

	api huma.API
	mux *http.ServeMux

	openAPIOnce sync.Once
	openAPI     []byte
	openAPIErr  error
}

// New returns the API's handler: every route of the specification. It panics if a required
// dependency is missing or DefaultFormat is not a format, as those are wiring mistakes.
func New(cfg Config) http.Handler {
	if cfg.Store == nil || cfg.Catalog == nil || cfg.Dispatcher == nil || cfg.URLs == nil {
		panic("httpapi: Config needs Store, Catalog, Dispatcher and URLs")
	}
	if cfg.DefaultFormat == "" {
		cfg.DefaultFormat = herald.FormatStandard
	}
	if !cfg.DefaultFormat.Valid() {
		panic("httpapi: unknown default format " + strconv.Quote(string(cfg.DefaultFormat)))
	}
	cfg.fillDefaults()

	s := &server{
		store:      cfg.Store,
		catalog:    cfg.Catalog,
		dispatcher: cfg.Dispatcher,
		urls:       cfg.URLs,
		adminHash:  cfg.AdminKeyHash,
		format:     cfg.DefaultFormat,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		version:    cfg.Version,
		metrics:    newAPIMetrics(cfg.Metrics),
		notices:    cfg.Notices,
		tracer:     newTracer(cfg.TracerProvider),
		limits:     cfg.RateLimits,
		tenantRate: newLimiter(cfg.RateLimits.Tenant),
		adminRate:  newLimiter(cfg.RateLimits.Admin),
		failRate:   newLimiter(cfg.RateLimits.AuthFailures),
		storeLimit: cfg.StoreTimeout,
		mux:        http.NewServeMux(),

		maxWebhooks: cfg.MaxWebhooksPerTenant,
		publicURL:   strings.TrimRight(cfg.PublicURL, "/"),
	}

	hc := huma.DefaultConfig("Herald", cfg.Version)
	hc.Info.Description = "Herald stores the events a product publishes, fans each one out to every " +
		"subscribed webhook endpoint, signs and retries every request, and keeps a delivery log.\n\n" +
		"Lists are paged by page and per_page, or offset; the total is in X-Total-Count. A page stops " +
		"early once its JSON would pass 1 MiB (X-Page-Truncated: true): follow the Link header's " +
		"rel=\"next\" rather than counting pages. A delivery keeps its first 3 and last 20 attempts " +
		"(attempts_dropped counts the rest) and embeds the latest 5; GET /api/v1/deliveries/{id}/attempts " +
		"lists them all, newest first."
	// No docs UI (it would load scripts from a CDN), no schema links or $schema fields in
	// responses; /openapi.json is served below.
	hc.OpenAPIPath = ""
	hc.DocsPath = ""
	hc.SchemasPath = ""
	hc.CreateHooks = nil
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {
			Type:        "http",
			Scheme:      "bearer",
			Description: "The admin key or a tenant key, as `Authorization: Bearer <key>`.",
		},
		"apiKey": {
			Type:        "apiKey",
			In:          "header",
			Name:        "X-API-Key",
			Description: "The admin key or a tenant key, as `X-API-Key: <key>`.",
		},
	}
	hc.Tags = []*huma.Tag{
		{Name: "Events", Description: "Publish events and read them back with their deliveries."},
		{Name: "Webhooks", Description: "Endpoint registrations, their secrets and their delivery logs."},
		{Name: "Deliveries", Description: "One event to one webhook, with its attempts."},
		{Name: "Event types", Description: "The catalog of event types and their JSON Schemas."},
		{Name: "Tenants", Description: "Accounts that own webhooks (admin only)."},
		{Name: "Operations", Description: "Health, readiness, metrics and this description."},
	}
	// Request bodies are decoded strictly (see strictUnmarshal); responses as usual.
	hc.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	s.api = humago.New(s.mux, hc)
	s.api.UseMiddleware(s.authenticate)

	s.registerEvents()
	s.registerWebhooks()
	s.registerDeliveries()
	s.registerOrdering()
	s.registerRouting()
	s.registerEventTypes()
	s.registerTenants()
	s.registerOperations(s.protectMetrics(cfg.Metrics, cfg.MetricsPublic, cfg.MetricsToken))

	return http.HandlerFunc(s.serveHTTP)
}

// serveHTTP is the outermost handler: it recovers from panics, answers unknown routes in
// the API's error shape, and counts every request.
func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	route := "unmatched"
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic serving request", "route", route, "panic", v)
			if !rec.wroteHeader {
				writeError(rec, answer(errInternal))
			}
		}
		s.metrics.observe(route, rec.status(), time.Since(start))
	}()

	// The API speaks JSON only: a body sent as anything else (curl's form default,
	// merge-patch+json) is read as JSON rather than refused for its label.
	if r.ContentLength != 0 {
		r.Header.Set("Content-Type", "application/json")
	}

	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.serveUnmatched(rec, r, h)
		return
	}
	route = pattern
	s.mux.ServeHTTP(rec, r)
}

// serveUnmatched answers a request no route matches: 404 or 405 in the API's error shape,
// or whatever else the mux decided (a redirect to a cleaned path).
func (s *server) serveUnmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.code {
	case http.StatusNotFound:
		writeError(w, answer(herald.Errorf(herald.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path)))
	case http.StatusMethodNotAllowed:
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		e := &apiError{status: http.StatusMethodNotAllowed, ErrorBody: herald.Error{Code: herald.ENOTFOUND,
			Message: "method " + r.Method + " is not allowed on " + r.URL.Path,
			Details: "allowed: " + probe.header.Get("Allow")}}
		writeError(w, e)
	default:
		for k, vs := range probe.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(probe.code)
		// The status is sent: a failed write means the caller left.
		_, _ = w.Write(probe.body)
	}
}

// statusRecorder remembers the status written through it. Unwrap lets huma and
// http.ResponseController reach the connection (for read deadlines and flushing).
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

// headerRecorder captures a small response in memory (the mux's 404, 405 and redirects).
type headerRecorder struct {
	header http.Header
	code   int
	body   []byte
}

func (w *headerRecorder) Header() http.Header { return w.header }

func (w *headerRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *headerRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// serveOpenAPI writes the OpenAPI description, built once: operations are all registered
// before New returns.
func (s *server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	s.openAPIOnce.Do(func() {
		s.openAPI, s.openAPIErr = json.Marshal(s.api.OpenAPI())
	})
	if s.openAPIErr != nil {
		writeError(w, toAPIError(r.Context(), s.log, s.openAPIErr))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// The status is sent: a failed write means the caller left.
	_, _ = w.Write(s.openAPI)
}

// serveMetrics returns the /metrics handler for reg.
func serveMetrics(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, MaxRequestsInFlight: 4})
}

// register adds an operation whose handler's errors all become API errors: domain
// errors keep their code and message, anything else is logged and answered 500.
func register[I, O any](s *server, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	// The webhook test and a retry wait for a delivery attempt, bounded by the attempt
	// timeout, which may be longer than the store timeout: they bound their store
	// lookups themselves, since a deadline on the whole request would cut the attempt
	// off, leave it unrecorded and its delivery leased, and answer a false 503.
	// A replay bounds each of its batches instead (see replayWebhook).
	bounded := op.OperationID != "test-webhook" && op.OperationID != "retry-delivery" && op.OperationID != "replay-webhook"
	if len(op.Security) > 0 && !slices.Contains(op.Errors, http.StatusTooManyRequests) {
		// Every authenticated operation is rate limited (see RateLimits).
		op.Errors = append(slices.Clone(op.Errors), http.StatusTooManyRequests)
	}
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		if bounded {
			var cancel context.CancelFunc
			ctx, cancel = s.withStoreTimeout(ctx)
			defer cancel()
		}
		out, err := h(ctx, in)
		if err != nil {
			return nil, toAPIError(ctx, s.log, err)
		}
		return out, nil
	})
}

// withStoreTimeout bounds ctx by the store timeout, if there is one.
func (s *server) withStoreTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.storeLimit < 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.storeLimit, errStoreTimeout)
}

// extendSchema is the schema of base's JSON object with one more required string field.
func extendSchema(r huma.Registry, base reflect.Type, field, doc string) *huma.Schema {
	return &huma.Schema{AllOf: []*huma.Schema{
		r.Schema(base, true, ""),
		{
			Type:       huma.TypeObject,
			Properties: map[string]*huma.Schema{field: {Type: huma.TypeString, Description: doc}},
			Required:   []string{field},
		},
	}}
}

// fillDefaults gives what a Config leaves out the defaults that New and NewPublisher
// share: the system clock, no logging, a registry of its own and the store timeout.
func (cfg *Config) fillDefaults() {
	if cfg.Clock == nil {
		cfg.Clock = herald.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = defaultStoreTimeout
	}
}
