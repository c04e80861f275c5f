package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald"
)

// Webhook is the API's webhook resource. Secrets are never part of it, except Secret in
// the answer to Create.
type Webhook struct {
	ID          string `json:"id"`
	TenantID    string `json:"tenant_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	URL         string `json:"url"` // a broker URL's password shows as ***
	// Destination is what the URL delivers to, from its scheme: http, nats, amqp, redis
	// or kafka.
	Destination string            `json:"destination"`
	Events      []string          `json:"events"`
	Enabled     bool              `json:"enabled"`
	Format      herald.Format     `json:"format"`
	Signing     string            `json:"signing"`              // hmac-sha256 or ed25519
	PublicKey   string            `json:"public_key,omitempty"` // ed25519: the whpk_ key receivers verify with
	RateLimit   int               `json:"rate_limit"`           // attempts per second; 0 for no limit
	Headers     map[string]string `json:"headers"`
	// Filter is a CEL expression over type, data, channels and tenant_id that an event
	// must match to be sent; "" for none.
	Filter string `json:"filter,omitempty"`
	// Channels are the channels it receives; empty for all.
	Channels []string `json:"channels,omitempty"`
	// Ordering is "none" or "key": whether events with one ordering key are sent one at
	// a time, in order.
	Ordering string `json:"ordering,omitempty"`
	// Auth is how requests authenticate to the endpoint, without its secrets; nil for
	// none.
	Auth *Auth `json:"auth,omitempty"`

	DisabledReason     string        `json:"disabled_reason"`
	CreatedAt          time.Time     `json:"created_at"`
	UpdatedAt          time.Time     `json:"updated_at"`
	LastDeliveryStatus string        `json:"last_delivery_status"` // success, failed or ""
	LastDeliveryAt     *time.Time    `json:"last_delivery_at"`
	Health             herald.Health `json:"health"`

	// Secret is the signing secret, in the answer to Create only (HMAC webhooks).
	// RevealSecret shows it again.
	Secret string `json:"secret,omitempty"`
}

// Auth is how Herald authenticates its requests to an endpoint, beyond the signature.
// Written, it carries its secrets (Password, Token, ClientSecret, PrivateKey); read back,
// the server never returns them. Make one with BasicAuth, BearerAuth,
// OAuth2ClientCredentials or MTLS; NoAuth removes it.
type Auth struct {
	Type string `json:"type"` // none, basic, bearer, oauth2_client_credentials or mtls

	Username string `json:"username,omitempty"` // basic
	Password string `json:"password,omitempty"` // basic; write only

	Token string `json:"token,omitempty"` // bearer; write only

	TokenURL     string   `json:"token_url,omitempty"`     // oauth2_client_credentials
	ClientID     string   `json:"client_id,omitempty"`     // oauth2_client_credentials
	ClientSecret string   `json:"client_secret,omitempty"` // oauth2_client_credentials; write only
	Scopes       []string `json:"scopes,omitempty"`        // oauth2_client_credentials
	Audience     string   `json:"audience,omitempty"`      // oauth2_client_credentials

	Certificate          string     `json:"certificate,omitempty"`            // mtls: PEM
	PrivateKey           string     `json:"private_key,omitempty"`            // mtls: PEM; write only
	CertificateExpiresAt *time.Time `json:"certificate_expires_at,omitempty"` // mtls; read only
	CertificateSubject   string     `json:"certificate_subject,omitempty"`    // mtls; read only
}

// NoAuth removes a webhook's endpoint authentication, in an update.
func NoAuth() *Auth { return &Auth{Type: "none"} }

// BasicAuth sends an Authorization: Basic header.
func BasicAuth(username, password string) *Auth {
	return &Auth{Type: "basic", Username: username, Password: password}
}

// BearerAuth sends an Authorization: Bearer header with token.
func BearerAuth(token string) *Auth { return &Auth{Type: "bearer", Token: token} }

// OAuth2ClientCredentials fetches a token from tokenURL with the client credentials
// grant and sends it as a bearer token.
func OAuth2ClientCredentials(tokenURL, clientID, clientSecret string, scopes ...string) *Auth {
	return &Auth{Type: "oauth2_client_credentials", TokenURL: tokenURL, ClientID: clientID, ClientSecret: clientSecret, Scopes: scopes}
}

// MTLS presents a client certificate, both PEM.
func MTLS(certificatePEM, privateKeyPEM string) *Auth {
	return &Auth{Type: "mtls", Certificate: certificatePEM, PrivateKey: privateKeyPEM}
}

// WebhookCreate is a webhook to register. Name and URL are required.
type WebhookCreate struct {
	Name string `json:"name"`
	// URL is the endpoint: http or https, or a broker (nats://, amqp://, redis://,
	// kafka://) where the server supports it.
	URL         string            `json:"url"`
	Events      []string          `json:"events,omitempty"` // empty for every type
	Enabled     *bool             `json:"enabled,omitempty"`
	Description string            `json:"description,omitempty"`
	Secret      string            `json:"secret,omitempty"` // default a new whsec_ secret
	Format      herald.Format     `json:"format,omitempty"` // default the server's
	Signing     string            `json:"signing,omitempty"`
	TenantID    string            `json:"tenant_id,omitempty"` // admin key only
	RateLimit   int               `json:"rate_limit,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Filter      string            `json:"filter,omitempty"`
	Channels    []string          `json:"channels,omitempty"`
	Ordering    string            `json:"ordering,omitempty"`
	Auth        *Auth             `json:"auth,omitempty"`
}

// WebhookUpdate changes the fields that are not nil and keeps the others.
type WebhookUpdate struct {
	Name        *string            `json:"name,omitempty"`
	URL         *string            `json:"url,omitempty"`
	Events      *[]string          `json:"events,omitempty"` // empty for every type
	Enabled     *bool              `json:"enabled,omitempty"`
	Description *string            `json:"description,omitempty"`
	Format      *herald.Format     `json:"format,omitempty"`
	RateLimit   *int               `json:"rate_limit,omitempty"`
	Headers     *map[string]string `json:"headers,omitempty"` // replaces them all
	Filter      *string            `json:"filter,omitempty"`  // "" removes it
	Channels    *[]string          `json:"channels,omitempty"`
	Ordering    *string            `json:"ordering,omitempty"`
	Auth        *Auth              `json:"auth,omitempty"` // NoAuth() removes it
}

// WebhookListOptions chooses which webhooks List returns.
type WebhookListOptions struct {
	ListOptions
	// TenantID keeps one tenant's webhooks (admin key).
	TenantID string
	// FailingFirst puts the webhooks whose health is failing first, then the rest.
	FailingFirst bool
}

func (o WebhookListOptions) query() url.Values {
	q := pageQuery(nil, o.ListOptions)
	if o.TenantID != "" {
		q.Set("tenant_id", o.TenantID)
	}
	if o.FailingFirst {
		q.Set("failing_first", "true")
	}
	return q
}

// TestResult is how a test request to a webhook went.
type TestResult struct {
	DeliveryID string `json:"delivery_id"`
	Success    bool   `json:"success"`     // the endpoint answered 2xx in time
	StatusCode int    `json:"status_code"` // 0 when no response arrived
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// Secrets are what a webhook signs with: its secret (HMAC) or its public key (ed25519),
// and during a rotation's grace period the secret it replaced.
type Secrets struct {
	Secret                  string     `json:"secret,omitempty"`
	PublicKey               string     `json:"public_key,omitempty"`
	PreviousSecret          string     `json:"previous_secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// RotateSecret asks for a webhook's new signing secret.
type RotateSecret struct {
	// Grace is how long the old secret keeps signing too, in whole seconds, at most 30
	// days; nil for the server's default, 24 h.
	Grace *time.Duration
	// Secret is your own new secret; "" for a new whsec_ one. Not for ed25519 webhooks.
	Secret string
}

// Replay asks for a webhook's past events to be sent again.
type Replay struct {
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until,omitempty"` // default now
	Types      []string   `json:"types,omitempty"` // default every type
	OnlyFailed bool       `json:"only_failed,omitempty"`
}

// ReplayResult counts what Replay did.
type ReplayResult struct {
	// Replayed is how many events were sent again, as new deliveries.
	Replayed int `json:"replayed"`
	// Skipped is how many could not be, their data removed by retention.
	Skipped int `json:"skipped"`
	// Complete is false when the window was too large for one request: replay the
	// rest from ResumeSince.
	Complete    bool       `json:"complete"`
	ResumeSince *time.Time `json:"resume_since,omitempty"`
}

// DeliveryListOptions chooses which deliveries a list returns.
type DeliveryListOptions struct {
	ListOptions
	// Status is pending, retrying (pending after a failed attempt), success or failed.
	Status string
	// EventType keeps one event type's deliveries.
	EventType string
	// Channel keeps the deliveries of events on this channel.
	Channel string
	// Since and Until bound when the deliveries were created.
	Since, Until time.Time
	// WebhookID, EventID and TenantID (admin key) keep one's deliveries; for
	// DeliveriesService.List only.
	WebhookID, EventID, TenantID string
}

func (o DeliveryListOptions) query() url.Values {
	q := pageQuery(nil, o.ListOptions)
	for name, v := range map[string]string{"status": o.Status, "event_type": o.EventType, "channel": o.Channel,
		"webhook_id": o.WebhookID, "event_id": o.EventID, "tenant_id": o.TenantID} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// WebhooksService calls the webhook routes: /api/v1/webhooks.
type WebhooksService struct{ c *Client }

// List returns a page of webhooks, newest first.
func (s *WebhooksService) List(ctx context.Context, opts WebhookListOptions) (*Page[Webhook], error) {
	return list[Webhook](ctx, s.c, pathOf("webhooks"), opts.query())
}

// All iterates over every webhook from the page opts asks for (the first by default),
// fetching pages as it goes; it stops at the first error, which it yields.
func (s *WebhooksService) All(ctx context.Context, opts WebhookListOptions) iter.Seq2[Webhook, error] {
	return all[Webhook](ctx, s.c, pathOf("webhooks"), opts.query())
}

// Create registers a webhook. The answer holds its signing secret, shown this once
// (RevealSecret shows it again); the server sends it a ping.
//
// A create is not retried after a failure that may have reached the server: a second
// one would make a second webhook.
func (s *WebhooksService) Create(ctx context.Context, w WebhookCreate) (*Webhook, error) {
	var out Webhook
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks"), body: w}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns a webhook.
func (s *WebhooksService) Get(ctx context.Context, id string) (*Webhook, error) {
	var out Webhook
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("webhooks", id), replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes the fields of u that are set, and returns the webhook.
func (s *WebhooksService) Update(ctx context.Context, id string, u WebhookUpdate) (*Webhook, error) {
	var out Webhook
	if _, err := s.c.do(ctx, &request{method: http.MethodPatch, path: pathOf("webhooks", id), body: u, replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a webhook and its deliveries.
func (s *WebhooksService) Delete(ctx context.Context, id string) error {
	_, err := s.c.do(ctx, &request{method: http.MethodDelete, path: pathOf("webhooks", id), replayable: true}, nil)
	return err
}

// Test sends a ping, or with eventType the catalog's sample of a type the webhook
// subscribes to, to this webhook only, and answers once it was attempted.
func (s *WebhooksService) Test(ctx context.Context, id, eventType string) (*TestResult, error) {
	body := struct {
		EventType string `json:"event_type,omitempty"`
	}{eventType}
	var out TestResult
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks", id, "test"), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevealSecret returns what the webhook signs with now.
func (s *WebhooksService) RevealSecret(ctx context.Context, id string) (*Secrets, error) {
	var out Secrets
	// It reads, whatever its method: safe to repeat.
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks", id, "reveal-secret"), replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateSecret gives a webhook a new signing secret (a new key pair for ed25519) and
// returns it; the old one keeps signing too for r.Grace.
func (s *WebhooksService) RotateSecret(ctx context.Context, id string, r RotateSecret) (*Secrets, error) {
	body := struct {
		GracePeriodSeconds *int64 `json:"grace_period_seconds,omitempty"`
		Secret             string `json:"secret,omitempty"`
	}{Secret: r.Secret}
	if r.Grace != nil {
		body.GracePeriodSeconds = Ptr(int64(*r.Grace / time.Second))
	}
	var out Secrets
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks", id, "rotate-secret"), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Deliveries returns a page of the webhook's deliveries, newest first.
func (s *WebhooksService) Deliveries(ctx context.Context, id string, opts DeliveryListOptions) (*Page[herald.Delivery], error) {
	return list[herald.Delivery](ctx, s.c, pathOf("webhooks", id, "deliveries"), opts.query())
}

// Recover makes the webhook's failed deliveries created in [since, until) pending
// again and returns how many; nil bounds are the server's defaults (the 24 hours
// before now).
func (s *WebhooksService) Recover(ctx context.Context, id string, since, until *time.Time) (int, error) {
	body := struct {
		Since *time.Time `json:"since,omitempty"`
		Until *time.Time `json:"until,omitempty"`
	}{since, until}
	var out struct {
		Requeued int `json:"requeued"`
	}
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks", id, "recover"), body: body}, &out); err != nil {
		return 0, err
	}
	return out.Requeued, nil
}

// Replay sends the webhook's past events again, as new deliveries.
func (s *WebhooksService) Replay(ctx context.Context, id string, r Replay) (*ReplayResult, error) {
	var out ReplayResult
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("webhooks", id, "replay"), body: r}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BlockedKeys returns the webhook's ordering keys whose head delivery has failed at least
// one attempt, oldest head first, at most 100: each with its head delivery and how many
// wait behind it. Retry the head (DeliveriesService.Retry) to try it now, or skip it
// (DeliveriesService.Skip) to release the key.
func (s *WebhooksService) BlockedKeys(ctx context.Context, id string) ([]herald.BlockedKey, error) {
	var out []herald.BlockedKey
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("webhooks", id, "blocked-keys"), replayable: true}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
