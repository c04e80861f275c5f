package herald

import (
	"encoding/json"
	"time"
)

// Notice is an operational event about Herald itself rather than the producer's: a
// webhook was disabled or enabled, a delivery ran out of retries. The dispatcher and
// the API raise notices; the notice package tells the operator (through the operator
// webhook) and the webhook's owner (by email).
type Notice struct {
	// Type is one of NoticeTypes.
	Type string
	// TenantID owns the webhook the notice is about; WebhookID is that webhook.
	TenantID, WebhookID string
	// Data is the notice's payload: WebhookDisabledData, WebhookEnabledData,
	// DeliveryExhaustedData or CertificateExpiringData as JSON. It never holds a secret.
	Data json.RawMessage
	// At is when the thing happened, UTC.
	At time.Time
}

// The notice types.
const (
	NoticeWebhookDisabled   = "webhook.disabled"
	NoticeWebhookEnabled    = "webhook.enabled"
	NoticeDeliveryExhausted = "delivery.exhausted"
)

// NoticeTypes lists every notice type.
var NoticeTypes = []string{NoticeWebhookDisabled, NoticeWebhookEnabled, NoticeDeliveryExhausted, NoticeCertificateExpiring}

// OpsTenantID is the reserved tenant that owns the operator webhook, which notices are
// delivered to. Notices about its own webhooks are never raised again to it, so a
// failing operator endpoint cannot feed on itself.
const OpsTenantID = "herald-ops"

// WebhookDisabledData is the data of a webhook.disabled notice.
type WebhookDisabledData struct {
	WebhookID  string    `json:"webhook_id"`
	TenantID   string    `json:"tenant_id"`
	URL        string    `json:"url"`
	Name       string    `json:"name"`
	Reason     string    `json:"reason"`
	DisabledAt time.Time `json:"disabled_at"`
}

// WebhookEnabledData is the data of a webhook.enabled notice.
type WebhookEnabledData struct {
	WebhookID string    `json:"webhook_id"`
	TenantID  string    `json:"tenant_id"`
	URL       string    `json:"url"`
	Name      string    `json:"name"`
	EnabledAt time.Time `json:"enabled_at"`
}

// DeliveryExhaustedData is the data of a delivery.exhausted notice: a delivery that
// ended failed, its retries spent, without its webhook being disabled.
type DeliveryExhaustedData struct {
	DeliveryID string    `json:"delivery_id"`
	WebhookID  string    `json:"webhook_id"`
	TenantID   string    `json:"tenant_id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error"`
	FailedAt   time.Time `json:"failed_at"`
}

// WebhookDisabledNotice is the notice that w was disabled at at for reason.
func WebhookDisabledNotice(w *Webhook, reason string, at time.Time) Notice {
	at = at.UTC()
	return newNotice(NoticeWebhookDisabled, w.TenantID, w.ID, at, WebhookDisabledData{
		WebhookID: w.ID, TenantID: w.TenantID, URL: RedactURL(w.URL), Name: w.Name, Reason: reason, DisabledAt: at,
	})
}

// WebhookEnabledNotice is the notice that w was enabled at at.
func WebhookEnabledNotice(w *Webhook, at time.Time) Notice {
	at = at.UTC()
	return newNotice(NoticeWebhookEnabled, w.TenantID, w.ID, at, WebhookEnabledData{
		WebhookID: w.ID, TenantID: w.TenantID, URL: RedactURL(w.URL), Name: w.Name, EnabledAt: at,
	})
}

// DeliveryExhaustedNotice is the notice that delivery d of event e failed for good at at,
// after attempts attempts, the last of which failed with lastError.
func DeliveryExhaustedNotice(d *Delivery, e *Event, attempts int, lastError string, at time.Time) Notice {
	at = at.UTC()
	return newNotice(NoticeDeliveryExhausted, d.TenantID, d.WebhookID, at, DeliveryExhaustedData{
		DeliveryID: d.ID, WebhookID: d.WebhookID, TenantID: d.TenantID, EventID: e.ID,
		EventType: e.Type, Attempts: attempts, LastError: lastError, FailedAt: at,
	})
}

func newNotice(typ, tenantID, webhookID string, at time.Time, data any) Notice {
	raw, err := json.Marshal(data)
	if err != nil {
		// Only a time outside years 0-9999 fails to marshal, which no clock gives; a
		// notice without data still says what happened to which webhook.
		raw = json.RawMessage("null")
	}
	return Notice{Type: typ, TenantID: tenantID, WebhookID: webhookID, Data: raw, At: at}
}
