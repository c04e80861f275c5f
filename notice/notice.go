package notice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald"
)

// OpsWebhookID is the fixed id of the operator webhook, owned by herald.OpsTenantID.
const OpsWebhookID = "wh_ops"

// opsWebhookName is the operator webhook's name, as listings show it.
const opsWebhookName = "Herald operator notices"

// Config is what a Sender needs. Store is required; zero values take the defaults named.
type Config struct {
	Store herald.Store
	// OpsWebhookID is the webhook notices are published to, normally OpsWebhookID once
	// EnsureOpsWebhook has made it; empty, notices are not published.
	OpsWebhookID string
	// Mail, when set, emails notices to the owning tenant's NotifyEmail.
	Mail *Mail
	// QueueSize bounds the notices waiting to be emailed; default 256.
	QueueSize int
	// ExhaustedEvery is how often at most a delivery.exhausted notice is sent about one
	// webhook, to the operator webhook and by email, so that an endpoint that is down
	// does not turn every event into a notice; default one hour.
	ExhaustedEvery time.Duration
	// ShutdownGrace bounds how long Run keeps emailing what is queued once its context
	// ends; default 10s.
	ShutdownGrace time.Duration
	// Clock defaults to herald.SystemClock.
	Clock herald.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Sender tells the operator and webhook owners about notices. Create it with New, pass
// Notify to the dispatcher and the API, and run Run for as long as they run.
type Sender struct {
	cfg   Config
	queue chan herald.Notice

	mu sync.Mutex
	// lastExhausted is when a delivery.exhausted notice was last sent about each webhook.
	lastExhausted map[string]time.Time
}

// New returns a Sender for cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.Store == nil {
		return nil, errors.New("notice: Config needs a Store")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.ExhaustedEvery <= 0 {
		cfg.ExhaustedEvery = time.Hour
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = herald.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{
		cfg:           cfg,
		queue:         make(chan herald.Notice, cfg.QueueSize),
		lastExhausted: make(map[string]time.Time),
	}, nil
}

// Notify publishes n to the operator webhook and queues it to be emailed to the owner.
// It waits for the publication (one write to the store) but never for an email; the
// caller wakes the dispatcher after, so the published delivery starts at once. A
// notice about the operator webhook, or any webhook of its tenant, is dropped.
func (s *Sender) Notify(ctx context.Context, n herald.Notice) {
	if n.TenantID == herald.OpsTenantID || (s.cfg.OpsWebhookID != "" && n.WebhookID == s.cfg.OpsWebhookID) {
		return // telling the operator endpoint about itself could loop forever
	}
	if n.Type == herald.NoticeDeliveryExhausted && !s.exhaustedDue(n.WebhookID) {
		s.cfg.Logger.DebugContext(ctx, "told about this webhook's failed deliveries lately: not again yet",
			"webhook_id", n.WebhookID)
		return
	}
	if s.cfg.OpsWebhookID != "" {
		if err := s.publish(ctx, n); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "publish a notice to the operator webhook", "type", n.Type,
				"webhook_id", n.WebhookID, "tenant_id", n.TenantID, "err", err)
		}
	}
	if s.cfg.Mail != nil && slices.Contains(herald.NoticeTypes, n.Type) {
		select {
		case s.queue <- n:
		default:
			s.cfg.Logger.WarnContext(ctx, "email queue full: notice not emailed", "type", n.Type,
				"webhook_id", n.WebhookID, "tenant_id", n.TenantID)
		}
	}
}

// exhaustedDue reports whether a delivery.exhausted notice about webhookID may go now,
// and if so counts it as sent.
func (s *Sender) exhaustedDue(webhookID string) bool {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.lastExhausted[webhookID]; ok && now.Sub(last) < s.cfg.ExhaustedEvery {
		return false
	}
	for id, at := range s.lastExhausted { // keep the map the size of recent failures
		if now.Sub(at) >= s.cfg.ExhaustedEvery {
			delete(s.lastExhausted, id)
		}
	}
	s.lastExhausted[webhookID] = now
	return true
}

// publish stores n as an event of the operator tenant. It goes to the tenant's enabled
// webhooks that subscribe to its type, the operator webhook among them: while that one
// is disabled, notices are not queued for it, like any event for a disabled webhook.
func (s *Sender) publish(ctx context.Context, n herald.Notice) error {
	// The change the notice describes is committed: its notice must not be lost to the
	// caller's request ending.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.cfg.Clock.Now().UTC()
	at := n.At
	if at.IsZero() {
		at = now
	}
	_, err := s.cfg.Store.Publish(ctx, []herald.Publication{{
		Event: herald.Event{
			ID:        herald.NewID(herald.PrefixEvent),
			TenantID:  herald.OpsTenantID,
			Type:      n.Type,
			Data:      n.Data,
			Timestamp: at.UTC().Truncate(time.Second),
			CreatedAt: now,
		},
	}})
	return err
}

// Run emails queued notices until ctx ends, then for up to ShutdownGrace what is still
// queued. Without Mail it returns at once.
func (s *Sender) Run(ctx context.Context) error {
	if s.cfg.Mail == nil {
		return nil
	}
	for {
		select {
		case n := <-s.queue:
			s.email(ctx, n)
		case <-ctx.Done():
			s.drain(context.WithoutCancel(ctx))
			return nil
		}
	}
}

// drain emails what is queued, for up to ShutdownGrace.
func (s *Sender) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case n := <-s.queue:
			s.email(ctx, n)
		default:
			return
		}
	}
	if left := len(s.queue); left > 0 {
		s.cfg.Logger.Warn("shutting down: notices not emailed", "count", left)
	}
}

// email sends n to the owning tenant's notify address, if it has one.
func (s *Sender) email(ctx context.Context, n herald.Notice) {
	log := s.cfg.Logger.With("type", n.Type, "webhook_id", n.WebhookID, "tenant_id", n.TenantID)
	now := s.cfg.Clock.Now()
	tenant, err := s.cfg.Store.Tenant(ctx, n.TenantID)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return // deleted since: nobody to tell
	}
	if err != nil {
		log.ErrorContext(ctx, "email a notice: read the tenant", "err", err)
		return
	}
	if tenant.NotifyEmail == "" {
		return
	}
	// The notice names the webhook as it was; the exhausted one names only its id.
	var w *herald.Webhook
	if n.Type == herald.NoticeDeliveryExhausted {
		if w, err = s.cfg.Store.Webhook(ctx, n.WebhookID); err != nil && herald.ErrorCode(err) != herald.ENOTFOUND {
			log.WarnContext(ctx, "email a notice: read the webhook", "err", err)
		}
	}
	msg, rcpt, err := compose(n, w, s.cfg.Mail.from, tenant.NotifyEmail, s.cfg.ExhaustedEvery, now)
	if err != nil {
		log.ErrorContext(ctx, "email a notice", "err", err)
		return
	}
	if err := s.cfg.Mail.send(ctx, rcpt, msg); err != nil {
		log.ErrorContext(ctx, "email a notice", "err", err)
		return
	}
	log.InfoContext(ctx, "notice emailed")
}

// OpsWebhook is how the operator webhook should be.
type OpsWebhook struct {
	URL    string
	Format herald.Format
	// Secret signs its requests. Empty keeps the stored one, or generates one when the
	// webhook is created.
	Secret string
}

// EnsureOpsWebhook makes the operator webhook (OpsWebhookID, owned by
// herald.OpsTenantID) match want: it creates it, and its tenant, when missing, and
// otherwise updates its URL, format and secret when they differ. It also enables it:
// a restart with the operator's configuration is the operator asking for notices. It
// returns the secret it generated, to be shown once, or "" when it generated none.
// Processes starting together on one database agree on one webhook and one secret.
func EnsureOpsWebhook(ctx context.Context, store herald.Store, want OpsWebhook, now time.Time) (string, error) {
	if !want.Format.Valid() {
		return "", fmt.Errorf("operator webhook: unknown format %q", want.Format)
	}
	if want.Secret != "" {
		if err := herald.ValidateSecret(want.Format, want.Secret); err != nil {
			return "", fmt.Errorf("operator webhook secret: %s", herald.ErrorMessage(err))
		}
	}
	if err := ensureOpsTenant(ctx, store, now); err != nil {
		return "", err
	}
	generated := ""
	for range 10 { // another process may create or update it meanwhile: read again
		w, err := store.Webhook(ctx, OpsWebhookID)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			w = &herald.Webhook{
				ID: OpsWebhookID, TenantID: herald.OpsTenantID, Name: opsWebhookName,
				Description: "Herald's notices to its operator: webhooks disabled and enabled, deliveries out of retries.",
				URL:         want.URL, Events: slices.Clone(herald.NoticeTypes), Enabled: true, Format: want.Format,
				Secret: want.Secret, CreatedAt: now, UpdatedAt: now,
			}
			if w.Secret == "" {
				w.Secret = herald.NewSecret()
			}
			err = store.CreateWebhook(ctx, w)
			if err == nil {
				if want.Secret == "" {
					generated = w.Secret
				}
				return generated, nil
			}
			if herald.ErrorCode(err) == herald.ECONFLICT {
				continue
			}
			return "", fmt.Errorf("create the operator webhook: %w", err)
		}
		if err != nil {
			return "", fmt.Errorf("read the operator webhook: %w", err)
		}
		if w.TenantID != herald.OpsTenantID {
			return "", fmt.Errorf("webhook %s belongs to tenant %q, not to the operator tenant %q", OpsWebhookID, w.TenantID, herald.OpsTenantID)
		}
		if want.Secret == "" {
			if err := herald.ValidateSecret(want.Format, w.Secret); err != nil {
				return "", fmt.Errorf("the operator webhook's secret cannot sign the %s format: give a new one (--ops-webhook-secret): %s", want.Format, herald.ErrorMessage(err))
			}
		} else if want.Secret != w.Secret {
			// No grace: the operator configured the new secret, so the receiver has it.
			if err := store.RotateSecret(ctx, w.ID, want.Secret, now); err != nil {
				return "", fmt.Errorf("rotate the operator webhook's secret: %w", err)
			}
			continue // the rotation changed the webhook: read it again before updating
		}
		if w.URL == want.URL && w.Format == want.Format && w.Enabled && slices.Equal(w.Events, herald.NoticeTypes) {
			return "", nil
		}
		w.URL, w.Format, w.Enabled, w.DisabledReason, w.Events = want.URL, want.Format, true, "", slices.Clone(herald.NoticeTypes)
		err = store.UpdateWebhook(ctx, w)
		if herald.ErrorCode(err) == herald.ECONFLICT {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("update the operator webhook: %w", err)
		}
		return "", nil
	}
	return "", errors.New("the operator webhook kept changing while it was being set up: start again")
}

// ensureOpsTenant creates the operator tenant. Its API key is random and never shown:
// the admin key acts for it.
func ensureOpsTenant(ctx context.Context, store herald.Store, now time.Time) error {
	_, err := store.Tenant(ctx, herald.OpsTenantID)
	if herald.ErrorCode(err) != herald.ENOTFOUND {
		if err != nil {
			return fmt.Errorf("read the operator tenant: %w", err)
		}
		return nil
	}
	t := &herald.Tenant{ID: herald.OpsTenantID, Name: "Herald operator", CreatedAt: now}
	err = store.CreateTenant(ctx, t, herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey)))
	if err != nil && herald.ErrorCode(err) != herald.ECONFLICT { // ECONFLICT: another process made it
		return fmt.Errorf("create the operator tenant: %w", err)
	}
	return nil
}
