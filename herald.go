package herald

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Format is a webhook's wire dialect: the envelope, signature headers, retry schedule and
// auto-disable rule it is delivered with.
type Format string

// The three formats Herald speaks.
const (
	FormatInfraAudit Format = "infraaudit"
	FormatFrugally   Format = "frugally"
	FormatStandard   Format = "standard"
)

// Formats lists every supported format.
var Formats = []Format{FormatInfraAudit, FormatFrugally, FormatStandard}

// Valid reports whether f is one of Formats.
func (f Format) Valid() bool { return slices.Contains(Formats, f) }

// DefaultTenantID is the tenant that owns events and webhooks created by the admin key
// without a tenant_id, so a single-tenant installation never has to think about tenants.
const DefaultTenantID = "default"

// PingType is the event type sent when a webhook is created and on every test request.
const PingType = "ping"

// Tenant is an account that owns webhooks: Frugally's team, InfraAudit's user or org.
type Tenant struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	NotifyEmail string `json:"notify_email"`
	// Branding is how the portal presents itself to the tenant's users, over the
	// installation's own (Branding.Over).
	Branding  Branding  `json:"branding"`
	CreatedAt time.Time `json:"created_at"`
}

// Event is one thing that happened in the producer. Data is the event-specific payload,
// kept byte for byte as published (compacted), so it is delivered exactly as given.
type Event struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"tenant_id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Timestamp time.Time       `json:"timestamp"`  // when it occurred, UTC, whole seconds
	CreatedAt time.Time       `json:"created_at"` // when Herald accepted it

	// Channels narrow who receives the event: a webhook with channels receives only
	// events sharing one of them (see Webhook.Channels).
	Channels []string `json:"channels"`
	// OrderingKey groups the events that a webhook with OrderingKey ordering delivers
	// one at a time, in publish order; "" for none.
	OrderingKey string `json:"ordering_key"`

	// TraceParent is the W3C traceparent of the span that published the event, or ""
	// when tracing was off. Every attempt's span is its child, so one trace shows the
	// publish and every attempt, whichever process sends them and however much later.
	// It is never sent to receivers.
	TraceParent string `json:"-"`
}

// EventType is one entry of the catalog: a type name, its JSON Schema (draft 2020-12) and
// a sample payload.
type EventType struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Sample      json.RawMessage `json:"sample,omitempty"`
}

// Webhook is an endpoint registration. Secret and PreviousSecret are plaintext in memory
// only: stores encrypt them with a Cipher before they touch disk.
type Webhook struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenant_id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	URL         string            `json:"url"`
	Events      []string          `json:"events"` // empty or ["*"] means every type
	Enabled     bool              `json:"enabled"`
	Format      Format            `json:"format"`
	RateLimit   int               `json:"rate_limit"` // attempts per second, 0 for no limit
	Headers     map[string]string `json:"headers"`    // extra request headers

	// Filter is a CEL expression over the event that must hold for the webhook to
	// receive it; "" for none.
	Filter string `json:"filter"`
	// Channels, when not empty, limit the webhook to events sharing one of them.
	Channels []string `json:"channels"`
	// Ordering is how the webhook orders its deliveries: OrderingNone or OrderingKey.
	Ordering Ordering `json:"ordering"`

	DisabledReason     string     `json:"disabled_reason"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastDeliveryStatus string     `json:"last_delivery_status"` // "success", "failed" or ""
	LastDeliveryAt     *time.Time `json:"last_delivery_at"`

	// Secret signs every request. During a rotation's grace period PreviousSecret is
	// still in use too (see wire), until PreviousSecretExpiresAt.
	Secret                  string    `json:"-"`
	PreviousSecret          string    `json:"-"`
	PreviousSecretExpiresAt time.Time `json:"-"`

	// Auth is how Herald authenticates to the endpoint, nil for no authentication
	// beyond the signature. Sealed at rest like Secret; see EndpointAuth.Public.
	Auth *EndpointAuth `json:"-"`

	// Health, kept by RecordAttempt for the auto-disable rules and shown by Health.
	ConsecutiveFailures int        `json:"-"`
	FailingSince        *time.Time `json:"-"`
	LastError           string     `json:"-"` // of the latest failed attempt while failing
	LastSuccessAt       *time.Time `json:"-"` // when an attempt last succeeded
}

// Ordering is how a webhook orders its deliveries.
type Ordering string

// The orderings. With OrderingKey, the events sharing an ordering key are delivered one
// at a time in publish order; with OrderingNone (the default) deliveries go in parallel.
const (
	OrderingNone Ordering = "none"
	OrderingKey  Ordering = "key"
)

// HealthState is how a webhook's deliveries are going, as shown to its owner.
type HealthState string

// Health states. A webhook is failing from its first failed attempt to its next
// successful one, and disabled whenever it is not enabled, whatever its attempts did.
const (
	HealthHealthy  HealthState = "healthy"
	HealthFailing  HealthState = "failing"
	HealthDisabled HealthState = "disabled"
)

// Health is how a webhook stands: its state and what it rests on.
type Health struct {
	State               HealthState `json:"state"`
	ConsecutiveFailures int         `json:"consecutive_failures"`
	LastError           string      `json:"last_error"`      // "" unless failing, or disabled while failing
	FailingSince        *time.Time  `json:"failing_since"`   // nil unless failing, or disabled while failing
	LastSuccessAt       *time.Time  `json:"last_success_at"` // nil before the first successful attempt
}

// Health returns how w stands now.
func (w *Webhook) Health() Health {
	h := Health{
		State:               HealthHealthy,
		ConsecutiveFailures: w.ConsecutiveFailures,
		LastError:           w.LastError,
		FailingSince:        w.FailingSince,
		LastSuccessAt:       w.LastSuccessAt,
	}
	switch {
	case !w.Enabled:
		h.State = HealthDisabled
	case w.ConsecutiveFailures > 0:
		h.State = HealthFailing
	}
	return h
}

// Signing returns how the webhook signs, SigningHMAC or SigningEd25519, which follows
// from its format and secret: only a standard webhook signs with an ed25519 key.
func (w *Webhook) Signing() string {
	if w.Format == FormatStandard && strings.HasPrefix(w.Secret, SigningKeyPrefix) {
		return SigningEd25519
	}
	return SigningHMAC
}

// Subscribes reports whether the webhook wants events of type t.
func (w *Webhook) Subscribes(t string) bool {
	if len(w.Events) == 0 {
		return true
	}
	return slices.Contains(w.Events, "*") || slices.Contains(w.Events, t)
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses. A delivery is pending until an attempt succeeds or its retries are
// exhausted; a manual retry or a recover can make a finished delivery pending again.
const (
	StatusPending DeliveryStatus = "pending"
	StatusSuccess DeliveryStatus = "success"
	StatusFailed  DeliveryStatus = "failed"
)

// StatusRetrying selects, in a DeliveryFilter, the pending deliveries with at least one
// failed attempt: waiting for a retry, not for their first try. It is never stored;
// Delivery.Retrying tells it of one delivery.
const StatusRetrying DeliveryStatus = "retrying"

// Retrying reports whether d is pending after a failed attempt (see StatusRetrying).
// A successful attempt finishes a delivery, so a pending one with attempts has failed
// at least its latest.
func (d Delivery) Retrying() bool {
	return d.Status == StatusPending && d.AttemptCount > 0
}

// Delivery is one event to one webhook. Its id never changes across retries.
type Delivery struct {
	ID            string         `json:"id"`
	EventID       string         `json:"event_id"`
	WebhookID     string         `json:"webhook_id"`
	TenantID      string         `json:"tenant_id"`
	EventType     string         `json:"event_type"`
	OrderingKey   string         `json:"ordering_key" doc:"The event's ordering key when its webhook orders by key: deliveries of one key go one at a time, in publish order; empty otherwise"`
	Status        DeliveryStatus `json:"status" enum:"pending,success,failed" doc:"pending until an attempt succeeds or its retries run out; a pending delivery with attempts is retrying"`
	AttemptCount  int            `json:"attempt_count"`
	NextAttemptAt *time.Time     `json:"next_attempt_at" doc:"When its next attempt is due; null once finished, and while it waits behind an earlier delivery of its ordering key"` // nil once finished, or while it waits for its key
	LastError     string         `json:"last_error" doc:"What its latest failed attempt got: the error, or the HTTP status; empty unless it failed"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	// Attempts are the latest of its attempts, at most MaxEmbeddedAttempts, oldest
	// first; filled by reads that say so. Store.Attempts reads them all.
	Attempts []Attempt `json:"attempts"`
	// AttemptsDropped counts the attempts no longer stored (see KeepLastAttempts):
	// AttemptsDropped(AttemptCount). Filled by reads that fill Attempts.
	AttemptsDropped int `json:"attempts_dropped"`
	// Channels are the event's channels, filled by Delivery and Deliveries.
	Channels []string `json:"channels" doc:"The event's channels"`
}

// Attempt is one HTTP request of a delivery and what came of it.
type Attempt struct {
	ID              string      `json:"id"`
	DeliveryID      string      `json:"delivery_id"`
	Number          int         `json:"number"` // 1 for the first attempt
	At              time.Time   `json:"at"`
	StatusCode      int         `json:"status_code"` // 0 when no response arrived
	DurationMS      int64       `json:"duration_ms"`
	Success         bool        `json:"success"`
	Error           string      `json:"error,omitempty"`
	RequestHeaders  http.Header `json:"request_headers"`
	ResponseHeaders http.Header `json:"response_headers"`
	ResponseBody    string      `json:"response_body"` // truncated to MaxResponseBody
	// TraceID is the OpenTelemetry trace the attempt's span was recorded in (hex), ""
	// when this process did not record one (tracing off, or the trace not sampled).
	TraceID string `json:"trace_id,omitempty"`
}

// MaxResponseBody is how much of a response body is read and kept with an attempt.
const MaxResponseBody = 4 << 10

// IdempotencyWindow is how long a repeated Idempotency-Key returns the first result.
const IdempotencyWindow = 24 * time.Hour
