package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
	webhooklib "github.com/heraldhq/herald/webhook" // the receiver library: its ed25519 keys
	"github.com/heraldhq/herald/wire"
)

// Limits on a webhook's fields.
const (
	maxNameLen        = 200
	maxDescriptionLen = 2000
	maxURLLen         = 2048
	maxHeaders        = 32
	maxEvents         = 500
	maxGracePeriod    = 30 * 24 * 60 * 60 // seconds
	defaultGrace      = 24 * 60 * 60      // seconds
	reasonDisabledAPI = "disabled through the API"
	pingMessage       = "Webhook endpoint verified"
)

// webhook is the webhook resource. The secret is never part of it.
type webhook struct {
	ID                 string             `json:"id" doc:"The webhook's id" example:"wh_01JD5Z8K3M4N5P6Q7R8S9T0V1W"`
	TenantID           string             `json:"tenant_id" doc:"The tenant that owns it"`
	Name               string             `json:"name"`
	Description        string             `json:"description"`
	URL                string             `json:"url" doc:"Where deliveries go: an http(s) endpoint they are POSTed to, or a broker (nats://, amqp://, redis://, kafka://); a password in it is shown as ***"`
	Destination        string             `json:"destination" enum:"http,nats,amqp,redis,kafka" doc:"What the URL delivers to, from its scheme"`
	Events             []string           `json:"events" doc:"Subscribed event types; empty or [\"*\"] means every type"`
	Enabled            bool               `json:"enabled"`
	Format             herald.Format      `json:"format" enum:"infraaudit,frugally,standard" doc:"The wire format: envelope, signature headers, retries"`
	Signing            string             `json:"signing" enum:"hmac-sha256,ed25519" doc:"How requests are signed: HMAC-SHA256 under the shared secret, or ed25519 (standard only)"`
	PublicKey          string             `json:"public_key,omitempty" doc:"ed25519 only: the whpk_ public key receivers verify v1a signatures with"`
	RateLimit          int                `json:"rate_limit" doc:"Attempts per second at most; 0 for no limit"`
	Headers            map[string]string  `json:"headers" doc:"Extra request headers sent with every delivery: at most 32, of at most 8 KiB in all (names plus values)"`
	Filter             string             `json:"filter" doc:"A CEL expression over type, data, channels and tenant_id that an event must satisfy to be delivered; empty for none"`
	Channels           []string           `json:"channels" doc:"When not empty, only events sharing one of these channels are delivered"`
	Ordering           herald.Ordering    `json:"ordering" enum:"none,key" doc:"none: deliveries go in parallel; key: events sharing an ordering_key are delivered one at a time, in publish order"`
	DisabledReason     string             `json:"disabled_reason" doc:"Why it is disabled, when it is"`
	CreatedAt          time.Time          `json:"created_at"`
	UpdatedAt          time.Time          `json:"updated_at"`
	LastDeliveryStatus string             `json:"last_delivery_status" enum:"success,failed," doc:"How its last attempt went; empty before the first"`
	LastDeliveryAt     *time.Time         `json:"last_delivery_at" doc:"When its last attempt was made"`
	Health             webhookHealth      `json:"health" doc:"How its deliveries are going: read state first"`
	Auth               *herald.PublicAuth `json:"auth,omitempty" doc:"How Herald authenticates to the endpoint, without its secrets; absent for none"`
}

// webhookHealth is how a webhook stands (herald.Health).
type webhookHealth struct {
	State               herald.HealthState `json:"state" enum:"healthy,failing,disabled" doc:"healthy: its latest attempt succeeded, or none was made yet; failing: its latest attempts failed, from the first failure to the next success; disabled: it is not enabled (by hand, or by its format's auto-disable rule: see disabled_reason) and nothing is sent to it"`
	ConsecutiveFailures int                `json:"consecutive_failures" doc:"Failed attempts in a row since the last success"`
	LastError           string             `json:"last_error" doc:"What its latest failed attempt got while failing: the error, or the HTTP status (\"HTTP 500 Internal Server Error\"); empty once an attempt succeeds or it is enabled again"`
	FailingSince        *time.Time         `json:"failing_since" doc:"When its first failed attempt in a row was made; null unless failing"`
	LastSuccessAt       *time.Time         `json:"last_success_at" doc:"When an attempt last succeeded; null before the first"`
}

// webhookWithSecret is the webhook resource as created: with its secret, shown this once.
// An ed25519 webhook has none to show: its public key is part of the resource.
type webhookWithSecret struct {
	webhook
	Secret string `json:"secret,omitempty" doc:"The signing secret (HMAC webhooks). Store it; POST /api/v1/webhooks/{id}/reveal-secret shows it again"`
}

// Schema documents webhookWithSecret as the webhook resource plus its secret (huma does
// not see the fields of unexported embedded structs).
func (webhookWithSecret) Schema(r huma.Registry) *huma.Schema {
	return extendSchema(r, reflect.TypeFor[webhook](), "secret", "The signing secret (HMAC webhooks). Store it; POST /api/v1/webhooks/{id}/reveal-secret shows it again")
}

func toWebhook(w *herald.Webhook) webhook {
	events := w.Events
	if events == nil {
		events = []string{}
	}
	headers := w.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	channels := w.Channels
	if channels == nil {
		channels = []string{}
	}
	ordering := w.Ordering
	if ordering == "" {
		ordering = herald.OrderingNone
	}
	return webhook{
		Filter: w.Filter, Channels: channels, Ordering: ordering,
		ID: w.ID, TenantID: w.TenantID, Name: w.Name, Description: w.Description, URL: herald.RedactURL(w.URL),
		Destination: string(herald.DestinationOf(w.URL)), Events: events, Enabled: w.Enabled, Format: w.Format, Signing: w.Signing(), PublicKey: publicKey(w),
		RateLimit: w.RateLimit, Headers: headers, DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt,
		UpdatedAt: w.UpdatedAt, LastDeliveryStatus: w.LastDeliveryStatus, LastDeliveryAt: w.LastDeliveryAt,
		Health: webhookHealth(w.Health()), Auth: w.Auth.Public(),
	}
}

type createWebhookRequest struct {
	Name        string            `json:"name" minLength:"1" maxLength:"200" doc:"A name to tell it by" example:"Production alerts"`
	URL         string            `json:"url" minLength:"1" maxLength:"2048" doc:"The destination: an http(s) endpoint; or a broker: nats://host:4222/subject (JetStream; ?core=true for plain NATS), amqp://user:pass@host:5672/vhost?exchange=x&routing_key=y, redis://host:6379/0?stream=name&maxlen=100000, kafka://broker:9092/topic. A password in it is sealed and shown as ***" example:"https://example.com/webhooks/herald"`
	Events      []string          `json:"events,omitempty" maxItems:"500" doc:"Event types to send; empty or [\"*\"] for every type" example:"[\"drift.detected\",\"alert.created\"]"`
	Enabled     *bool             `json:"enabled,omitempty" doc:"Default true"`
	Description string            `json:"description,omitempty" maxLength:"2000"`
	Secret      string            `json:"secret,omitempty" doc:"Your own signing secret; default a new whsec_ secret. A standard webhook's is whsec_ and base64 of 24 to 64 bytes; any other's is 16 to 256 printable characters"`
	Format      herald.Format     `json:"format,omitempty" enum:"infraaudit,frugally,standard" doc:"The wire format; default the server's"`
	Signing     string            `json:"signing,omitempty" enum:"hmac-sha256,ed25519" doc:"hmac-sha256 (default) or ed25519, for the standard format only: Herald keeps the private key and returns the public key"`
	TenantID    string            `json:"tenant_id,omitempty" doc:"Admin only: the owning tenant; default the default tenant"`
	RateLimit   int               `json:"rate_limit,omitempty" minimum:"0" doc:"Attempts per second at most; 0 for no limit"`
	Headers     map[string]string `json:"headers,omitempty" doc:"Extra request headers for every delivery: at most 32, of at most 8 KiB in all (names plus values)"`
	Auth        *authRequest      `json:"auth,omitempty" doc:"How Herald authenticates to the endpoint: basic, bearer, OAuth2 client credentials or mutual TLS. Sealed at rest; its secrets are never returned"`
	Filter      string            `json:"filter,omitempty" maxLength:"4096" doc:"A CEL expression over type, data, channels and tenant_id; only events for which it is true are delivered. Compiled, cost-checked and checked against the subscribed types' schemas: 422 says where and why it is refused" example:"data.severity == \"critical\" && data.resource_type.startsWith(\"s3\")"`
	Channels    []string          `json:"channels,omitempty" maxItems:"10" doc:"Up to 10 channels (1 to 128 of a-z 0-9 . _ : -): only events sharing one are delivered; empty for every channel" example:"[\"prod\"]"`
	Ordering    herald.Ordering   `json:"ordering,omitempty" enum:"none,key" doc:"none (default) or key: events sharing an ordering_key are delivered one at a time, in publish order"`
}

// updateWebhookRequest changes the fields given, for PUT and PATCH alike.
type updateWebhookRequest struct {
	Name        *string            `json:"name,omitempty" minLength:"1" maxLength:"200"`
	URL         *string            `json:"url,omitempty" minLength:"1" maxLength:"2048" doc:"The destination: an http(s) endpoint; or a broker: nats://host:4222/subject (JetStream; ?core=true for plain NATS), amqp://user:pass@host:5672/vhost?exchange=x&routing_key=y, redis://host:6379/0?stream=name&maxlen=100000, kafka://broker:9092/topic. A password in it is sealed and shown as ***; a URL sent back with *** keeps the stored password (same scheme, user and host only)"`
	Events      *[]string          `json:"events,omitempty" maxItems:"500" doc:"Replaces the subscribed types; empty or [\"*\"] for every type"`
	Enabled     *bool              `json:"enabled,omitempty" doc:"Disabling fails its pending deliveries; enabling resets its health"`
	Description *string            `json:"description,omitempty" maxLength:"2000"`
	Format      *herald.Format     `json:"format,omitempty" enum:"infraaudit,frugally,standard"`
	RateLimit   *int               `json:"rate_limit,omitempty" minimum:"0"`
	Headers     *map[string]string `json:"headers,omitempty" doc:"Replaces the extra headers: at most 32, of at most 8 KiB in all (names plus values)"`
	Auth        *authRequest       `json:"auth,omitempty" doc:"Replaces the auth, secrets included; {\"type\":\"none\"} removes it"`
	Filter      *string            `json:"filter,omitempty" maxLength:"4096" doc:"Replaces the filter; \"\" removes it"`
	Channels    *[]string          `json:"channels,omitempty" maxItems:"10" doc:"Replaces the channels; [] for every channel"`
	Ordering    *herald.Ordering   `json:"ordering,omitempty" enum:"none,key" doc:"none or key"`
}

type webhookIDInput struct {
	ID string `path:"id" doc:"The webhook's id"`
}

type createWebhookInput struct {
	Body createWebhookRequest
}

type updateWebhookInput struct {
	ID      string `path:"id" doc:"The webhook's id"`
	Body    updateWebhookRequest
	RawBody []byte // to tell a null from an absent field
}

type webhookOutput struct {
	Body webhook
}

type createdWebhookOutput struct {
	Body webhookWithSecret
}

type listWebhooksInput struct {
	Page     int    `query:"page" minimum:"1" default:"1" doc:"Page number, from 1"`
	PerPage  int    `query:"per_page" minimum:"1" maximum:"100" default:"20" doc:"Items per page, at most 100"`
	TenantID string `query:"tenant_id" doc:"Admin only: only this tenant's webhooks"`
	// FailingFirst is what a dashboard of endpoints wants: the ones to fix on top.
	FailingFirst bool `query:"failing_first" doc:"true: the webhooks whose health is failing first, then the rest; each newest first"`
}

type listWebhooksOutput struct {
	TotalCount int `header:"X-Total-Count" doc:"How many webhooks match, across all pages"`
	Body       []webhook
}

type testOutput struct {
	Body struct {
		DeliveryID string `json:"delivery_id" doc:"The ping's delivery"`
		Success    bool   `json:"success" doc:"Whether the endpoint answered 2xx in time"`
		StatusCode int    `json:"status_code" doc:"The endpoint's status; 0 when no response arrived"`
		DurationMS int64  `json:"duration_ms"`
		Error      string `json:"error,omitempty" doc:"What went wrong, when it did"`
	}
}

// testInput asks for a test: a ping, or the catalog's sample of a type the webhook
// subscribes to.
type testInput struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body *struct {
		EventType string `json:"event_type,omitempty" maxLength:"200" doc:"Send the catalog's sample of this type, which the webhook must subscribe to and which must have a sample; default ping" example:"drift.detected"`
	}
}

// revealedSecretOutput is a webhook's signing material, shown again on request.
type revealedSecretOutput struct {
	Body struct {
		Secret                  string     `json:"secret,omitempty" doc:"The signing secret (HMAC webhooks), exactly as receivers use it"`
		PublicKey               string     `json:"public_key,omitempty" doc:"The public key receivers verify with (ed25519 webhooks): the private key is never shown"`
		PreviousSecret          string     `json:"previous_secret,omitempty" doc:"While a rotation's grace lasts, the secret it replaced, which still signs too (HMAC webhooks)"`
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"When the previous secret stops signing"`
	}
}

type rotateInput struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body *struct {
		GracePeriodSeconds *int   `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"2592000" doc:"How long the old secret keeps signing too; default 86400 (24 h), at most 30 days"`
		Secret             string `json:"secret,omitempty" doc:"Your own new secret; default a new whsec_ secret. Not for ed25519 webhooks, which get a new key pair"`
	}
}

type secretOutput struct {
	Body struct {
		Secret    string `json:"secret,omitempty" doc:"The new signing secret (HMAC webhooks). Store it; reveal-secret shows it again"`
		PublicKey string `json:"public_key,omitempty" doc:"The new public key (ed25519 webhooks)"`
	}
}

// recoverWindow is the window a recover without since goes back over.
const recoverWindow = 24 * time.Hour

type recoverInput struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body *struct {
		Since *time.Time `json:"since,omitempty" doc:"Requeue failed deliveries created at or after this time; default 24 hours before until"`
		Until *time.Time `json:"until,omitempty" doc:"…and before this time; default now"`
	}
}

type recoverOutput struct {
	Body struct {
		Requeued int `json:"requeued" doc:"How many failed deliveries are pending again"`
	}
}

type webhookDeliveriesInput struct {
	pageURL
	ID        string    `path:"id" doc:"The webhook's id"`
	EventID   string    `query:"event_id" doc:"Only this event's delivery"`
	Page      int       `query:"page" minimum:"1" default:"1" doc:"Page number, from 1"`
	PerPage   int       `query:"per_page" minimum:"1" maximum:"100" default:"20" doc:"Items per page, at most 100"`
	Offset    int       `query:"offset" minimum:"0" doc:"How many items to skip, in place of page (the next-page Link uses it)"`
	Status    string    `query:"status" enum:"pending,retrying,success,failed" doc:"Only deliveries in this state; retrying: pending after at least one failed attempt"`
	EventType string    `query:"event_type" doc:"Only deliveries of this event type"`
	Since     time.Time `query:"since" doc:"Only deliveries created at or after this time (RFC 3339)"`
	Until     time.Time `query:"until" doc:"Only deliveries created before this time (RFC 3339)"`
	Channel   string    `query:"channel" doc:"Only deliveries of events on this channel"`
}

func (s *server) registerWebhooks() {
	tags := []string{"Webhooks"}
	register(s, huma.Operation{
		OperationID: "list-webhooks", Method: http.MethodGet, Path: "/api/v1/webhooks",
		Summary: "List webhooks", Description: "Newest first. The total is in X-Total-Count.",
		Tags: tags, Security: security, Errors: []int{401, 403},
	}, s.listWebhooks)
	register(s, huma.Operation{
		OperationID: "create-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks",
		Summary:     "Register a webhook",
		Description: "Answers 201 with the webhook and its secret, which POST /api/v1/webhooks/{id}/reveal-secret shows again, and sends it a ping; 409 when the tenant has the most webhooks one tenant may have (--max-webhooks-per-tenant).",
		Tags:        tags, Security: security, DefaultStatus: http.StatusCreated, MaxBodyBytes: maxBody + 1,
		Errors: []int{400, 401, 403, 409, 413, 422},
	}, s.createWebhook)
	register(s, huma.Operation{
		OperationID: "get-webhook", Method: http.MethodGet, Path: "/api/v1/webhooks/{id}",
		Summary: "Get a webhook", Tags: tags, Security: security, Errors: []int{401, 404},
	}, s.getWebhook)
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		register(s, huma.Operation{
			OperationID: strings.ToLower(method) + "-webhook", Method: method, Path: "/api/v1/webhooks/{id}",
			Summary:     "Update a webhook",
			Description: "Changes the fields given and leaves the others. The secret changes only through rotate-secret.",
			Tags:        tags, Security: security, MaxBodyBytes: maxBody + 1,
			Errors: []int{400, 401, 404, 413, 422},
		}, s.updateWebhook)
	}
	register(s, huma.Operation{
		OperationID: "delete-webhook", Method: http.MethodDelete, Path: "/api/v1/webhooks/{id}",
		Summary: "Delete a webhook", Description: "Deletes it with its deliveries.",
		Tags: tags, Security: security, DefaultStatus: http.StatusNoContent, Errors: []int{401, 404},
	}, s.deleteWebhook)
	register(s, huma.Operation{
		OperationID: "test-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks/{id}/test",
		Summary: "Send a test now",
		Description: "Sends a ping event, or with event_type the catalog's sample of a type the webhook subscribes to, " +
			"to this webhook only, enabled or not, waits for the answer and reports it. The test is an event of the " +
			"webhook's tenant with one delivery, to this webhook: it is not published to the tenant's other webhooks.",
		Tags: tags, Security: security, MaxBodyBytes: maxBody + 1, Errors: []int{400, 401, 404, 409, 413, 422},
	}, s.testWebhook)
	register(s, huma.Operation{
		OperationID: "reveal-webhook-secret", Method: http.MethodPost, Path: "/api/v1/webhooks/{id}/reveal-secret",
		Summary: "Show a webhook's signing secret again",
		Description: "Answers the secret a receiver verifies with, and while a rotation's grace lasts the previous " +
			"one, for the webhook's own tenant or the admin (another tenant's webhook is 404). An ed25519 " +
			"webhook answers its public key: its private key is never shown. A POST, so that no cache, log " +
			"of URLs or prefetch keeps it; every reveal is logged with the webhook's id.",
		Tags: tags, Security: security, Errors: []int{401, 404},
	}, s.revealSecret)
	register(s, huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/api/v1/webhooks/{id}/deliveries",
		Summary: "List a webhook's deliveries", Description: "Newest first, each with its latest attempts. " + listPagesDoc,
		Tags: tags, Security: security, Errors: []int{401, 404},
	}, s.listWebhookDeliveries)
	register(s, huma.Operation{
		OperationID: "rotate-webhook-secret", Method: http.MethodPost, Path: "/api/v1/webhooks/{id}/rotate-secret",
		Summary:     "Rotate a webhook's secret",
		Description: "Makes a new secret (or yours) the signing secret. During the grace period requests are signed with both.",
		Tags:        tags, Security: security, MaxBodyBytes: maxBody + 1, Errors: []int{400, 401, 404, 422},
	}, s.rotateSecret)
	register(s, huma.Operation{
		OperationID: "recover-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks/{id}/recover",
		Summary:     "Send failed deliveries again",
		Description: "Makes the failed deliveries created in [since, until) pending again, due now. The webhook must be enabled. Without a body, or without since, the window is the last 24 hours.",
		Tags:        tags, Security: security, DefaultStatus: http.StatusAccepted, MaxBodyBytes: maxBody + 1,
		Errors: []int{400, 401, 404, 409, 422},
	}, s.recoverWebhook)
}

// webhook returns the webhook id if p may see it, and the same 404 whether it does not
// exist or belongs to another tenant.
func (s *server) webhook(ctx context.Context, p principal, id string) (*herald.Webhook, error) {
	w, err := s.store.Webhook(ctx, id)
	return visible(p, "webhook", id, w, func(w *herald.Webhook) string { return w.TenantID }, err)
}

func (s *server) listWebhooks(ctx context.Context, in *listWebhooksInput) (*listWebhooksOutput, error) {
	tenant, err := caller(ctx).scope(in.TenantID)
	if err != nil {
		return nil, err
	}
	ws, total, err := s.store.Webhooks(ctx, herald.WebhookFilter{TenantID: tenant, Page: in.Page, PerPage: in.PerPage,
		FailingFirst: in.FailingFirst})
	if err != nil {
		return nil, err
	}
	out := &listWebhooksOutput{TotalCount: total, Body: make([]webhook, 0, len(ws))}
	for i := range ws {
		out.Body = append(out.Body, toWebhook(&ws[i]))
	}
	return out, nil
}

func (s *server) createWebhook(ctx context.Context, in *createWebhookInput) (*createdWebhookOutput, error) {
	p := caller(ctx)
	req := &in.Body
	tenant, err := s.owner(ctx, p, req.TenantID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	w := &herald.Webhook{
		ID:          herald.NewID(herald.PrefixWebhook),
		TenantID:    tenant,
		Name:        strings.TrimSpace(req.Name),
		Description: req.Description,
		URL:         strings.TrimSpace(req.URL),
		Enabled:     req.Enabled == nil || *req.Enabled,
		Format:      req.Format,
		RateLimit:   req.RateLimit,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if w.Format == "" {
		w.Format = s.format
	}
	if !w.Enabled {
		w.DisabledReason = reasonDisabledAPI
	}
	if err := checkName(w.Name); err != nil {
		return nil, err
	}
	if err := checkDescription(w.Description); err != nil {
		return nil, err
	}
	if err := checkFormat(w.Format); err != nil {
		return nil, err
	}
	if err := checkRateLimit(w.RateLimit); err != nil {
		return nil, err
	}
	if err := s.checkURL(ctx, w.URL); err != nil {
		return nil, err
	}
	if w.Events, err = s.checkEvents(ctx, req.Events); err != nil {
		return nil, err
	}
	if w.Headers, err = checkHeaders(req.Headers); err != nil {
		return nil, err
	}
	if w.Secret, err = newSecret(w.Format, req.Signing, req.Secret); err != nil {
		return nil, err
	}
	w.Filter, w.Channels, w.Ordering = req.Filter, req.Channels, req.Ordering
	if err := s.checkRouting(ctx, w, true); err != nil {
		return nil, err
	}
	if req.Auth != nil {
		if w.Auth, err = s.checkAuth(ctx, req.Auth); err != nil {
			return nil, err
		}
	}
	if err := checkAuthFits(w); err != nil {
		return nil, err
	}

	done, err := s.reserveWebhook(ctx, tenant)
	if err != nil {
		return nil, err
	}
	err = s.store.CreateWebhook(ctx, w)
	done()
	if err != nil {
		return nil, err
	}
	if w.Enabled {
		// The webhook exists whatever happens to its ping: failing the request now would
		// make the caller register it twice. /test sends another.
		if _, err := s.publishPing(ctx, w, now); err != nil {
			s.log.WarnContext(ctx, "publish the ping of a new webhook", "webhook_id", w.ID, "error", err)
		} else {
			s.dispatcher.Wake()
		}
	}
	created, err := s.store.Webhook(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	out := &createdWebhookOutput{Body: webhookWithSecret{webhook: toWebhook(created)}}
	if created.Signing() == herald.SigningHMAC {
		out.Body.Secret = w.Secret
	}
	return out, nil
}

// publishPing stores a ping event for w alone and returns its delivery's id.
func (s *server) publishPing(ctx context.Context, w *herald.Webhook, now time.Time) (string, error) {
	data, err := json.Marshal(map[string]string{"webhook_id": w.ID, "message": pingMessage})
	if err != nil {
		return "", fmt.Errorf("encode ping: %w", err)
	}
	results, err := s.store.Publish(ctx, []herald.Publication{{
		Event: herald.Event{
			ID:        herald.NewID(herald.PrefixEvent),
			TenantID:  w.TenantID,
			Type:      herald.PingType,
			Data:      data,
			Timestamp: now.Truncate(time.Second),
			CreatedAt: now,
		},
		Target: w.ID,
	}})
	if err != nil {
		return "", fmt.Errorf("publish ping: %w", err)
	}
	if len(results) != 1 || len(results[0].DeliveryIDs) != 1 {
		return "", fmt.Errorf("publish ping: store made no delivery for webhook %s", w.ID)
	}
	return results[0].DeliveryIDs[0], nil
}

func (s *server) getWebhook(ctx context.Context, in *webhookIDInput) (*webhookOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	return &webhookOutput{Body: toWebhook(w)}, nil
}

func (s *server) updateWebhook(ctx context.Context, in *updateWebhookInput) (*webhookOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	if err := refuseNulls(in.RawBody); err != nil {
		return nil, err
	}
	req := &in.Body
	if req.Name != nil {
		w.Name = strings.TrimSpace(*req.Name)
		if err := checkName(w.Name); err != nil {
			return nil, err
		}
	}
	if req.Description != nil {
		w.Description = *req.Description
		if err := checkDescription(w.Description); err != nil {
			return nil, err
		}
	}
	if req.URL != nil {
		// A broker URL read back shows *** for its password; sent back so, it keeps it.
		next, err := herald.KeepURLPassword(strings.TrimSpace(*req.URL), w.URL)
		if err != nil {
			return nil, invalidField("url", err)
		}
		if next != w.URL {
			w.URL = next
			if err := s.checkURL(ctx, w.URL); err != nil {
				return nil, err
			}
		}
	}
	if req.Events != nil {
		if w.Events, err = s.checkEvents(ctx, *req.Events); err != nil {
			return nil, err
		}
	}
	if req.RateLimit != nil {
		w.RateLimit = *req.RateLimit
		if err := checkRateLimit(w.RateLimit); err != nil {
			return nil, err
		}
	}
	if req.Headers != nil {
		if w.Headers, err = checkHeaders(*req.Headers); err != nil {
			return nil, err
		}
	}
	if req.Format != nil && *req.Format != w.Format {
		if err := checkFormat(*req.Format); err != nil {
			return nil, err
		}
		if err := s.checkSecretsFor(w, *req.Format); err != nil {
			return nil, err
		}
		w.Format = *req.Format
	}
	if req.Filter != nil {
		w.Filter = *req.Filter
	}
	if req.Channels != nil {
		w.Channels = *req.Channels
	}
	if req.Ordering != nil {
		w.Ordering = *req.Ordering
	}
	if err := s.checkRouting(ctx, w, req.Filter != nil || req.Events != nil); err != nil {
		return nil, err
	}
	if req.Auth != nil {
		if w.Auth, err = s.checkAuth(ctx, req.Auth); err != nil {
			return nil, err
		}
	}
	if err := checkAuthFits(w); err != nil {
		return nil, err
	}
	wasEnabled := w.Enabled
	if req.Enabled != nil && *req.Enabled != w.Enabled {
		w.Enabled = *req.Enabled
		if w.Enabled {
			w.DisabledReason = ""
		} else {
			w.DisabledReason = reasonDisabledAPI
		}
	}
	if err := s.store.UpdateWebhook(ctx, w); err != nil {
		return nil, err
	}
	updated, err := s.store.Webhook(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	if s.notices != nil && w.Enabled != wasEnabled {
		if w.Enabled {
			s.notices(ctx, herald.WebhookEnabledNotice(updated, updated.UpdatedAt))
		} else {
			s.notices(ctx, herald.WebhookDisabledNotice(updated, w.DisabledReason, updated.UpdatedAt))
		}
		s.dispatcher.Wake() // the notice may have queued a delivery to the operator webhook
	}
	return &webhookOutput{Body: toWebhook(updated)}, nil
}

// refuseNulls refuses an update that sets a field to null: every field has a value, and
// leaving one out is how to keep it.
func refuseNulls(body []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil // huma decoded it already; a non-object was refused there
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if string(fields[name]) == "null" {
			return invalid(name, "%s cannot be null: leave it out to keep its value", name)
		}
	}
	return nil
}

// checkSecretsFor refuses a format change the webhook's secrets cannot sign in: a
// standard webhook's secret must be whsec_<base64>, and only standard signs ed25519.
func (s *server) checkSecretsFor(w *herald.Webhook, f herald.Format) error {
	if w.Signing() == herald.SigningEd25519 {
		if f != herald.FormatStandard {
			return invalid("format", "this webhook signs with ed25519, which only the standard format has: create a new webhook for the %s format", f)
		}
		return nil
	}
	if err := herald.ValidateSecret(f, w.Secret); err != nil {
		return invalid(herald.ErrorMessage(err),
			"this webhook's secret cannot sign the %s format: rotate the secret first (POST /api/v1/webhooks/%s/rotate-secret gives a new whsec_ secret), then change the format", f, w.ID)
	}
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt.After(s.clock.Now()) {
		if err := herald.ValidateSecret(f, w.PreviousSecret); err != nil {
			return invalid(herald.ErrorMessage(err),
				"the previous secret, still in use until %s, cannot sign the %s format: rotate the secret again with grace_period_seconds 0, then change the format",
				w.PreviousSecretExpiresAt.UTC().Format(time.RFC3339), f)
		}
	}
	return nil
}

func (s *server) deleteWebhook(ctx context.Context, in *webhookIDInput) (*struct{}, error) {
	if _, err := s.webhook(ctx, caller(ctx), in.ID); err != nil {
		return nil, err
	}
	if err := s.store.DeleteWebhook(ctx, in.ID); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "webhook %q not found", in.ID)
		}
		return nil, err
	}
	return nil, nil
}

// firstAttempt waits for the first attempt of a delivery someone else is sending.
func (s *server) firstAttempt(ctx context.Context, deliveryID string) (*herald.Attempt, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // longer than any attempt's timeout
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := s.store.Delivery(ctx, deliveryID)
		if ctx.Err() != nil {
			return nil, herald.Errorf(herald.EUNAVAILABLE, "the ping is still being sent; see delivery %s", deliveryID)
		}
		if err != nil {
			return nil, err
		}
		if len(d.Attempts) > 0 {
			return &d.Attempts[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, herald.Errorf(herald.EUNAVAILABLE, "the ping is still being sent; see delivery %s", deliveryID)
		case <-tick.C:
		}
	}
}

// publishSample stores the catalog's sample of eventType as an event of w's tenant
// with one delivery, to w alone, and returns the delivery's id.
func (s *server) publishSample(ctx context.Context, w *herald.Webhook, eventType string, now time.Time) (string, error) {
	t, ok := s.catalog.Lookup(eventType)
	if !ok {
		if err := s.syncCatalog(ctx); err != nil {
			return "", err
		}
		if t, ok = s.catalog.Lookup(eventType); !ok {
			return "", invalid("event_type", "unknown event type %q: see GET /api/v1/webhooks/events", eventType)
		}
	}
	if !w.Subscribes(t.Type) {
		return "", invalid("event_type", "webhook %s does not subscribe to %s: add it to its events first", w.ID, t.Type)
	}
	if len(t.Sample) == 0 {
		return "", invalid("event_type", "event type %s has no sample to send", t.Type)
	}
	results, err := s.store.Publish(ctx, []herald.Publication{{
		Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: w.TenantID, Type: t.Type, Data: t.Sample,
			Timestamp: now.Truncate(time.Second), CreatedAt: now,
		},
		Target: w.ID,
	}})
	if err != nil {
		return "", fmt.Errorf("publish the sample of %s: %w", t.Type, err)
	}
	if len(results) != 1 || len(results[0].DeliveryIDs) != 1 {
		return "", fmt.Errorf("publish the sample of %s: store made no delivery for webhook %s", t.Type, w.ID)
	}
	return results[0].DeliveryIDs[0], nil
}

func (s *server) testWebhook(ctx context.Context, in *testInput) (*testOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	var deliveryID string
	if in.Body == nil || in.Body.EventType == "" || in.Body.EventType == herald.PingType {
		deliveryID, err = s.publishPing(ctx, w, now)
	} else {
		deliveryID, err = s.publishSample(ctx, w, in.Body.EventType, now)
	}
	if err != nil {
		return nil, err
	}
	// Not Wake: the dispatcher would race DeliverNow for the delivery. It may still
	// find the ping first on its own; then report the attempt it makes. If the ping
	// fails, the dispatcher finds the retry when it is due.
	a, err := s.dispatcher.DeliverNow(ctx, deliveryID)
	if herald.ErrorCode(err) == herald.ECONFLICT {
		a, err = s.firstAttempt(ctx, deliveryID)
	}
	if err != nil {
		return nil, err
	}
	out := &testOutput{}
	out.Body.DeliveryID = deliveryID
	out.Body.Success = a.Success
	out.Body.StatusCode = a.StatusCode
	out.Body.DurationMS = a.DurationMS
	out.Body.Error = a.Error
	return out, nil
}

func (s *server) revealSecret(ctx context.Context, in *webhookIDInput) (*revealedSecretOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "webhook secret revealed", "webhook_id", w.ID, "tenant_id", w.TenantID)
	out := &revealedSecretOutput{}
	if out.Body.PublicKey = publicKey(w); out.Body.PublicKey != "" {
		return out, nil
	}
	out.Body.Secret = w.Secret
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt.After(s.clock.Now()) {
		expires := w.PreviousSecretExpiresAt.UTC()
		out.Body.PreviousSecret, out.Body.PreviousSecretExpiresAt = w.PreviousSecret, &expires
	}
	return out, nil
}

func (s *server) rotateSecret(ctx context.Context, in *rotateInput) (*secretOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	grace, secret := defaultGrace, ""
	if in.Body != nil {
		if in.Body.GracePeriodSeconds != nil {
			grace = *in.Body.GracePeriodSeconds
		}
		secret = in.Body.Secret
	}
	if grace < 0 || grace > maxGracePeriod {
		return nil, invalid("grace_period_seconds", "grace_period_seconds must be between 0 and %d (30 days)", maxGracePeriod)
	}
	if secret, err = newSecret(w.Format, w.Signing(), secret); err != nil {
		return nil, err
	}
	expires := s.clock.Now().UTC().Add(time.Duration(grace) * time.Second)
	if err := s.store.RotateSecret(ctx, w.ID, secret, expires); err != nil {
		return nil, err
	}
	out := &secretOutput{}
	w.Secret = secret
	if out.Body.PublicKey = publicKey(w); out.Body.PublicKey == "" {
		out.Body.Secret = secret
	}
	return out, nil
}

func (s *server) recoverWebhook(ctx context.Context, in *recoverInput) (*recoverOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	until := now
	if in.Body != nil && in.Body.Until != nil {
		until = in.Body.Until.UTC()
	}
	since := until.Add(-recoverWindow)
	if in.Body != nil && in.Body.Since != nil {
		since = in.Body.Since.UTC()
	}
	if !since.Before(until) {
		return nil, invalid("since", "since must be before until")
	}
	if !w.Enabled {
		return nil, herald.Errorf(herald.ECONFLICT, "webhook %q is disabled: enable it first", w.ID)
	}
	// In batches, each its own short transaction, so a recover of any window never holds
	// the store for long; the dispatcher shares out what it requeues fairly.
	total := 0
	for {
		n, err := s.store.Requeue(ctx, w.ID, since, until, now, herald.RequeueBatch)
		if n > 0 {
			total += n
			s.dispatcher.Wake()
		}
		if err != nil {
			if total > 0 {
				return nil, fmt.Errorf("recover stopped after requeuing %d deliveries: %w", total, err)
			}
			return nil, err
		}
		if n < herald.RequeueBatch {
			break
		}
	}
	out := &recoverOutput{}
	out.Body.Requeued = total
	return out, nil
}

func (s *server) listWebhookDeliveries(ctx context.Context, in *webhookDeliveriesInput) (*listDeliveriesOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	f, err := deliveryFilter(in.Page, in.PerPage, in.Status, in.EventType, in.Since, in.Until)
	if err != nil {
		return nil, err
	}
	f.WebhookID, f.EventID, f.Offset, f.Channel = w.ID, strings.TrimSpace(in.EventID), in.Offset, in.Channel
	return s.listDeliveries(ctx, f, &in.pageURL)
}

// newSecret returns the secret a webhook of format f signing with signing ("" for
// HMAC) is created or rotated with: the caller's own HMAC secret, checked, or a new one;
// for ed25519, always a new key pair, since Herald must hold the private key.
func newSecret(f herald.Format, signing, own string) (string, error) {
	switch signing {
	case "", herald.SigningHMAC:
		if own == "" {
			return herald.NewSecret(), nil
		}
		if err := herald.ValidateSecret(f, own); err != nil {
			return "", invalidField("secret", err)
		}
		return own, nil
	case herald.SigningEd25519:
		if f != herald.FormatStandard {
			return "", invalid("signing", "ed25519 signing is for the standard format only, not %s", f)
		}
		if own != "" {
			return "", invalid("secret", "an ed25519 webhook's key pair is generated by Herald: leave secret out")
		}
		private, _, err := webhooklib.NewEd25519Key()
		if err != nil {
			return "", fmt.Errorf("generate ed25519 key: %w", err)
		}
		return private, nil
	}
	return "", invalid("signing", "unknown signing %q: want hmac-sha256 or ed25519", signing)
}

// publicKey returns an ed25519 webhook's public key, or "" for an HMAC one.
func publicKey(w *herald.Webhook) string {
	if w.Signing() != herald.SigningEd25519 {
		return ""
	}
	public, err := webhooklib.PublicKey(w.Secret)
	if err != nil {
		return "" // a stored key is one Herald generated; unreadable, it shows as none
	}
	return public
}

func checkName(name string) error {
	if name == "" {
		return invalid("name", "name is required")
	}
	if len(name) > maxNameLen {
		return invalid("name", "name must be at most %d characters", maxNameLen)
	}
	return nil
}

func checkDescription(d string) error {
	if len(d) > maxDescriptionLen {
		return invalid("description", "description must be at most %d characters", maxDescriptionLen)
	}
	return nil
}

func checkFormat(f herald.Format) error {
	if !f.Valid() {
		return invalid("format", "format must be one of infraaudit, frugally or standard")
	}
	return nil
}

func checkRateLimit(n int) error {
	if n < 0 {
		return invalid("rate_limit", "rate_limit must be 0 (no limit) or more")
	}
	return nil
}

// checkURL refuses what cannot be an endpoint: not absolute http(s), or refused by the
// egress guard (private networks, unless allowed).
func (s *server) checkURL(ctx context.Context, raw string) error {
	if raw == "" {
		return invalid("url", "url is required")
	}
	if len(raw) > maxURLLen {
		return invalid("url", "url must be at most %d characters", maxURLLen)
	}
	if herald.DestinationOf(raw).IsBroker() {
		return s.checkBrokerURL(ctx, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("url", "url must be an absolute http or https URL, or a broker URL: nats://, amqp://, redis:// or kafka://")
	}
	if u.User != nil {
		return invalid("url", "url must not carry credentials: send them with headers")
	}
	if err := s.urls.CheckURL(ctx, raw); err != nil {
		if herald.ErrorCode(err) == herald.EINTERNAL {
			// A lookup failure, say: the caller can act on it as on any refusal.
			return invalid(err.Error(), "url cannot be used as an endpoint")
		}
		return err
	}
	return nil
}

// checkEvents checks subscribed types against the catalog (reloaded once if one is
// unknown) and drops repeats.
func (s *server) checkEvents(ctx context.Context, events []string) ([]string, error) {
	if len(events) > maxEvents {
		return nil, invalid("events", "events may list at most %d types", maxEvents)
	}
	out := make([]string, 0, len(events))
	synced := false
	for _, t := range events {
		if slices.Contains(out, t) {
			continue
		}
		if t != "*" {
			_, ok := s.catalog.Lookup(t)
			if !ok && !synced {
				if err := s.syncCatalog(ctx); err != nil {
					return nil, err
				}
				synced = true
				_, ok = s.catalog.Lookup(t)
			}
			if !ok {
				return nil, invalid("events", "unknown event type %q: see GET /api/v1/event-types", t)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// checkHeaders checks a webhook's extra headers and returns them with canonical names.
func checkHeaders(h map[string]string) (map[string]string, error) {
	if len(h) > maxHeaders {
		return nil, invalid("headers", "at most %d headers", maxHeaders)
	}
	size := 0
	for name, value := range h {
		size += len(name) + len(value)
	}
	if size > herald.MaxCustomHeaderBytes {
		return nil, invalid("headers", "headers total %d bytes (names plus values); at most %d bytes", size, herald.MaxCustomHeaderBytes)
	}
	if err := wire.ValidateHeaders(h); err != nil {
		return nil, invalidField("headers", err)
	}
	out := make(map[string]string, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		canonical := http.CanonicalHeaderKey(name)
		if _, dup := out[canonical]; dup {
			return nil, invalid("headers", "header %s is given twice", canonical)
		}
		out[canonical] = h[name]
	}
	return out, nil
}

// invalidField is a 422 about field from a domain error's message.
func invalidField(field string, err error) error {
	if herald.ErrorCode(err) == herald.EINTERNAL {
		return err
	}
	return invalid(field, "%s", herald.ErrorMessage(err))
}
