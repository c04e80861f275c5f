package herald

import (
	"context"
	"time"
)

// Cipher seals secrets before a store writes them and opens them when it reads them, so
// no webhook secret is ever on disk in plaintext.
type Cipher interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(ciphertext []byte) ([]byte, error)
}

// Resealer is a Cipher that holds several keys, one of which seals (the key being
// rotated to) while all of them open (the keys being rotated away from). Current tells
// whether a ciphertext is sealed the way Seal seals now, so that re-sealing every
// secret under the new key touches only those that are not, and a second run finds
// nothing to do.
type Resealer interface {
	Cipher
	Current(ciphertext []byte) bool
}

// Store is Herald's durable state. The sqlite and postgres packages implement it and both
// pass the storetest suite. Every method is safe for concurrent use, including by several
// processes sharing one database. Lookups of a missing thing return an ENOTFOUND *Error;
// creating a thing whose id exists returns ECONFLICT. All times are UTC.
type Store interface {
	// Ping reports whether the database answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error

	// Setting returns a named value (e.g. the admin key hash), ENOTFOUND if unset.
	Setting(ctx context.Context, name string) ([]byte, error)
	// PutSetting sets a named value, replacing any earlier one.
	PutSetting(ctx context.Context, name string, value []byte) error
	// CreateSetting sets a named value unless it is set already (ECONFLICT), so that
	// processes starting at once on one database agree on the first one.
	CreateSetting(ctx context.Context, name string, value []byte) error

	// CreateTenant stores a tenant with the hash of its API key.
	CreateTenant(ctx context.Context, t *Tenant, keyHash []byte) error
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// TenantByKeyHash finds the tenant whose API key hashes to keyHash, or whose
	// previous key (see RotateTenantKey) does while its grace lasts: until after now.
	TenantByKeyHash(ctx context.Context, keyHash []byte, now time.Time) (*Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)
	// UpdateTenant writes t's name, notify email and branding; ENOTFOUND for no such
	// tenant.
	UpdateTenant(ctx context.Context, t *Tenant) error
	// DeleteTenant removes a tenant and everything it owns, its portal sessions
	// included.
	DeleteTenant(ctx context.Context, id string) error
	// RotateTenantKey makes keyHash the tenant's API key. The key it replaces keeps
	// working until previousExpiresAt, and not at all when that is zero; a key replaced
	// by an earlier rotation stops at once. Every portal session of the tenant ends in
	// the same transaction, and every portal link not yet used stops working. ENOTFOUND for no such tenant, ECONFLICT if another tenant's
	// key, current or previous, has keyHash.
	RotateTenantKey(ctx context.Context, id string, keyHash []byte, previousExpiresAt time.Time) error

	// CreateSession stores a portal session (ECONFLICT if its IDHash exists), and
	// removes sessions that expired before s.CreatedAt: expired sessions are purged at
	// each sign-in, so they never pile up.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session whose id hashes to idHash, ENOTFOUND if there is none
	// or it expired at or before now.
	Session(ctx context.Context, idHash []byte, now time.Time) (*Session, error)
	// DeleteSession ends a session at once (signing out); ending one that does not
	// exist is no error.
	DeleteSession(ctx context.Context, idHash []byte) error

	// CreatePortalLink stores a portal link (ECONFLICT if its TokenHash exists;
	// ENOTFOUND if its tenant does not), and removes links that expired more than
	// PortalLinkKept before l.CreatedAt.
	CreatePortalLink(ctx context.Context, l *PortalLink) error
	// RedeemPortalLink follows the link whose token hashes to tokenHash at s.CreatedAt:
	// if it is unused and unexpired, it marks it used and stores s as its session (with
	// the link's tenant, ReadOnly and ReturnURL, and Link set) in one transaction, so
	// of any number of concurrent redemptions exactly one succeeds. A used or expired
	// link is EGONE, returned with the link (for its ReturnURL and tenant); an unknown
	// one ENOTFOUND.
	RedeemPortalLink(ctx context.Context, tokenHash []byte, s *Session) (*PortalLink, error)

	// CreateEventType adds a custom event type (ECONFLICT if it exists).
	CreateEventType(ctx context.Context, t *EventType) error
	// EventTypes returns the custom event types, oldest first.
	EventTypes(ctx context.Context) ([]EventType, error)

	CreateWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns a webhook with its secrets opened.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// Webhooks returns one page of webhooks, newest first (the failing ones first, when
	// f.FailingFirst), and the total matching.
	Webhooks(ctx context.Context, f WebhookFilter) ([]Webhook, int, error)
	// UpdateWebhook writes every field of w except the id, tenant, creation time, secrets
	// and health, and sets UpdatedAt. Disabling a webhook fails its pending deliveries.
	// Enabling one resets its health. Unless w.UpdatedAt is zero, the write is refused
	// with ECONFLICT if the webhook changed since w was read (UpdatedAt differs), so an
	// edit never undoes an auto-disable it did not see.
	UpdateWebhook(ctx context.Context, w *Webhook) error
	// RotateSecret makes secret the webhook's signing secret and keeps the old one valid
	// until previousExpiresAt (no grace when it is not after now).
	RotateSecret(ctx context.Context, id, secret string, previousExpiresAt time.Time) error
	DeleteWebhook(ctx context.Context, id string) error
	// ResealSecrets seals again with the store's Cipher every webhook secret, current
	// and previous, that it does not seal that way already (see Resealer; every secret
	// when the Cipher is not one), batch webhooks per transaction (ResealBatch when not
	// above zero), and returns how many values it re-sealed: 0 when run again. A secret
	// rotated while this runs is never overwritten with the value it replaced. A secret
	// the Cipher cannot open stops it with an error naming the webhook.
	ResealSecrets(ctx context.Context, batch int) (int, error)

	// Publish stores events and their deliveries in one transaction: either all of them
	// are committed or none. See Publication for the rules.
	Publish(ctx context.Context, ps []Publication) ([]PublishResult, error)
	Event(ctx context.Context, id string) (*Event, error)

	// Delivery returns one delivery with its latest attempts (see Delivery.Attempts).
	Delivery(ctx context.Context, id string) (*Delivery, error)
	// Deliveries returns one page of deliveries, newest first, each with its latest
	// attempts, and the total matching.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, int, error)
	// Attempts returns one page of a delivery's stored attempts, newest first, and how
	// many it stores (none for a delivery that does not exist).
	Attempts(ctx context.Context, f AttemptFilter) ([]Attempt, int, error)

	// ClaimDue leases up to Limit pending deliveries that are due, of enabled webhooks,
	// oldest due first, skipping those leased by anyone until after Now.
	ClaimDue(ctx context.Context, r ClaimRequest) ([]Claim, error)
	// ClaimDelivery leases one delivery whatever its status or due time (manual retry,
	// test ping). ECONFLICT if anyone, owner included, holds an unexpired lease on it:
	// then an attempt is under way, and a second one would send it twice.
	ClaimDelivery(ctx context.Context, id, owner string, now, leaseUntil time.Time) (*Claim, error)
	// RecordAttempt applies one finished attempt atomically; see AttemptRecord.
	RecordAttempt(ctx context.Context, r *AttemptRecord) (AttemptOutcome, error)
	// ReleaseClaims drops the leases owner holds so others can take the deliveries now.
	ReleaseClaims(ctx context.Context, owner string) error
	// SkipDelivery gives a pending delivery up by hand at now: it is failed, with
	// SkippedByHand as its last error and no attempt, which releases its ordering key
	// (see BlockedKey). ECONFLICT if it is not pending or an attempt of it is under way.
	SkipDelivery(ctx context.Context, id string, now time.Time) (*Delivery, error)
	// BlockedKeys lists the ordering keys of a webhook whose head has failed attempts,
	// oldest head first, at most MaxBlockedKeys.
	BlockedKeys(ctx context.Context, webhookID string) ([]BlockedKey, error)
	// Requeue makes up to limit failed deliveries of a webhook created in [since, until),
	// oldest first, pending and due at now, and returns how many: RequeueBatch when
	// limit is not above zero. A caller recovering more calls it again, with the same
	// now, until it returns fewer than limit, so no transaction grows with the window;
	// only deliveries last changed before now are taken, so a delivery requeued by an
	// earlier call that has failed again since is not requeued twice by one recover.
	Requeue(ctx context.Context, webhookID string, since, until, now time.Time, limit int) (int, error)
	// Replay is one batch of a replay (see ReplayRequest and PlanReplay): it walks at
	// most r.Limit of the webhook's tenant's events in (created_at, id) order after
	// r.After, in one short transaction, and creates the new deliveries. The caller
	// repeats it with each result's Next until a result is Done. ENOTFOUND for no such
	// webhook; ECONFLICT when it is disabled.
	Replay(ctx context.Context, r ReplayRequest) (ReplayResult, error)

	// PurgePayloads is one batch of retention (see PurgeRequest): finished deliveries
	// last active before r.Before, not leased at r.Now, lose their attempts' response
	// bodies; events created before it whose deliveries all did lose their data (JSON
	// null). Ids, types, statuses, times, status codes and headers stay. It purges at
	// most r.Limit deliveries and examines at most r.Limit events, each in a short
	// transaction, so the caller repeats it, passing each result's NextEvent as the
	// next request's AfterEvent and pausing between calls, until a result is Done. A
	// delivery whose event's data is gone is never leased again (ClaimDelivery fails)
	// nor made pending by Requeue: there is nothing to send.
	PurgePayloads(ctx context.Context, r PurgeRequest) (PurgeResult, error)

	// Backlog describes the work waiting at now, for metrics read at every scrape. It
	// must stay cheap however long the delivery history: it reads an index of the
	// pending deliveries, never the deliveries table (webhooks, being few, may be scanned).
	Backlog(ctx context.Context, now time.Time) (Backlog, error)

	// DeliveryStats summarises the attempts made in the filter's window, minute by
	// minute and by outcome, with their latency percentiles, and counts the pending
	// deliveries and lists the failing webhooks now, of one tenant or of all (the
	// portal's dashboard). It may read every attempt of the window.
	DeliveryStats(ctx context.Context, f StatsFilter) (*DeliveryStats, error)

	// DeliveryOutcomes counts, for each webhook of f, its deliveries created since
	// f.Since that were tried, by how they stand (see DeliveryOutcomes; the portal's
	// webhook list), in one query for a page of webhooks; a webhook with none is absent
	// from the map.
	DeliveryOutcomes(ctx context.Context, f OutcomesFilter) (map[string]DeliveryOutcomes, error)
}

// Backlog is the work a store holds that is not done yet.
type Backlog struct {
	// Pending counts the pending deliveries: due or scheduled for a retry, leased or not.
	Pending int
	// OldestPendingDue is the earliest due time (NextAttemptAt) among the pending
	// deliveries due at or before the time asked about: that time minus it is how far
	// dispatching is behind. Nil when none is due.
	OldestPendingDue *time.Time
	// DisabledWebhooks counts the webhooks that are disabled now, by an operator or by
	// their format's auto-disable rule.
	DisabledWebhooks int
}

// Notifier is implemented by stores that several processes share: it tells every process
// when any of them commits work, so an idle dispatcher starts it at once instead of at
// its next poll.
type Notifier interface {
	// Listen calls due, until ctx ends, each time any process commits deliveries that
	// become due at a time: a new event, a manual retry, a requeue or claims handed back
	// are due at once (at is when they were committed); a scheduled retry is due at its
	// next attempt. Listen reconnects by itself after a lost connection and then calls
	// due with the zero time, since notices sent meanwhile are lost. It returns when ctx
	// ends.
	Listen(ctx context.Context, due func(at time.Time)) error
}

// WebhookFilter selects webhooks. Zero fields select everything.
type WebhookFilter struct {
	TenantID string
	// FailingFirst puts the webhooks whose health is failing (enabled, with a failed
	// latest attempt) before the rest, each group newest first.
	FailingFirst bool
	Page         int // from 1
	PerPage      int // at most 100
}

// DeliveryFilter selects deliveries. Zero fields select everything.
type DeliveryFilter struct {
	TenantID  string
	WebhookID string
	EventID   string
	Status    DeliveryStatus
	EventType string
	Channel   string    // of an event carrying this channel
	Since     time.Time // created at or after
	Until     time.Time // created before
	Page      int       // from 1
	PerPage   int       // at most 100
	Offset    int       // when above zero, how many to skip, in place of Page
}

// AttemptFilter selects a page of a delivery's attempts.
type AttemptFilter struct {
	DeliveryID string
	Page       int // from 1
	PerPage    int // at most 100
	Offset     int // when above zero, how many to skip, in place of Page
}

// Publication is one event to store with its deliveries.
//
// If an event with Event.ID exists already for the same tenant, nothing is written and
// its first result comes back with Duplicate set; for another tenant, ECONFLICT. The same
// holds for a non-empty IdempotencyKey seen for the tenant within IdempotencyWindow.
//
// Otherwise one pending delivery, due at Event.CreatedAt, is created for every enabled
// webhook of the tenant that subscribes to the type; or, when Target is set, for that
// one webhook only, enabled or not (pings and tests).
type Publication struct {
	Event          Event
	IdempotencyKey string
	Target         string
}

// PublishResult says what Publish did with one Publication.
type PublishResult struct {
	EventID     string   `json:"id"`
	Deliveries  int      `json:"deliveries"`
	DeliveryIDs []string `json:"-"`
	Duplicate   bool     `json:"-"`
}

// ClaimRequest asks for due work.
type ClaimRequest struct {
	Owner      string // who takes the lease: one per dispatcher process
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
	// PerWebhook, when above zero, caps how many deliveries of one webhook are leased at
	// once: this claim returns at most PerWebhook minus the webhook's deliveries under an
	// unexpired lease by anyone, so a backlog for one endpoint cannot fill a claim meant
	// for many, and the cap holds across every process sharing the store.
	PerWebhook int
	// SkipWebhooks are webhooks the caller has no room for now (at their concurrency or
	// rate limit): their deliveries are left for later.
	SkipWebhooks []string
	// SkipTenants are tenants the caller has no room for now (at their fair share of its
	// slots): their deliveries are left for later, so one tenant's backlog or hung
	// endpoints cannot fill a claim meant for every tenant.
	SkipTenants []string
}

// Claim is a leased delivery with everything needed to send it.
type Claim struct {
	Delivery Delivery
	Event    Event
	Webhook  Webhook // secrets opened
}

// AttemptRecord is one finished attempt and what it changes, written atomically: the
// attempt is appended (numbered AttemptCount+1), the delivery takes Status and
// NextAttemptAt and loses its lease, and the webhook's health and last delivery change.
//
// If Owner no longer holds the delivery's lease (it expired and someone else claimed
// it), the attempt is still logged but a delivery that succeeded stays succeeded.
//
// On failure the webhook's consecutive failures go up (and FailingSince is set if
// unset); on success both reset. The webhook is disabled, with its pending deliveries
// failed, when DisableReason is set, when DisableAfterFailures > 0 and its consecutive
// failures reach it, or when DisableAfterFailingFor > 0 and it has been failing that
// long.
type AttemptRecord struct {
	Owner         string
	Attempt       Attempt
	Status        DeliveryStatus
	NextAttemptAt time.Time // when Status is pending

	DisableReason          string
	DisableAfterFailures   int
	DisableAfterFailingFor time.Duration
}

// AttemptOutcome tells what RecordAttempt did beyond the delivery.
type AttemptOutcome struct {
	Number          int    // the attempt's number as stored
	WebhookDisabled bool   // this attempt disabled the webhook
	DisabledReason  string // why, when it did
}

// ResealBatch is how many webhooks ResealSecrets reads and rewrites per transaction when
// the caller does not say: small, so each write is short and deliveries never wait long.
const ResealBatch = 100

// ResealTries bounds how often ResealSecrets re-reads a webhook whose secret changed
// between its read and its write before it gives up with ECONFLICT.
const ResealTries = 5

// SealedSecrets is a webhook's secrets as stored, sealed by a Cipher; Previous is nil
// when there is no previous secret. Stores read these to re-seal them.
type SealedSecrets struct {
	ID       string
	Secret   []byte
	Previous []byte
	Auth     []byte // the sealed EndpointAuth, nil for none
	// URLPassword is the password of a broker URL (see SealURLPassword), nil if none.
	URLPassword []byte
}

// Resealed is a webhook's secrets sealed anew, with what they were when read (Was), so
// the store writes them only if they are unchanged since, and how many values changed.
type Resealed struct {
	SealedSecrets
	Was    SealedSecrets
	Values int
}

// ResealRows opens and seals again, with c, the values in rows that c does not call
// current (every value, when c is not a Resealer), and returns the rows that changed.
// A value that c cannot open is an error naming the webhook, never the value.
func ResealRows(c Cipher, rows []SealedSecrets) ([]Resealed, error) {
	current := func([]byte) bool { return false }
	if r, ok := c.(Resealer); ok {
		current = r.Current
	}
	reseal := func(id, what string, sealed []byte) ([]byte, error) {
		plain, err := c.Open(sealed)
		if err != nil {
			return nil, Errorf(EINVALID, "webhook %s: its %s opens with none of the keys given; add the key it was sealed with as a previous key", id, what)
		}
		return c.Seal(plain)
	}
	var out []Resealed
	for _, r := range rows {
		n := Resealed{SealedSecrets: r, Was: r}
		var err error
		if !current(r.Secret) {
			if n.Secret, err = reseal(r.ID, "secret", r.Secret); err != nil {
				return nil, err
			}
			n.Values++
		}
		if r.Previous != nil && !current(r.Previous) {
			if n.Previous, err = reseal(r.ID, "previous secret", r.Previous); err != nil {
				return nil, err
			}
			n.Values++
		}
		if r.Auth != nil && !current(r.Auth) {
			if n.Auth, err = reseal(r.ID, "endpoint auth", r.Auth); err != nil {
				return nil, err
			}
			n.Values++
		}
		if r.URLPassword != nil && !current(r.URLPassword) {
			if n.URLPassword, err = reseal(r.ID, "url password", r.URLPassword); err != nil {
				return nil, err
			}
			n.Values++
		}
		if n.Values > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// RequeueBatch is how many deliveries Requeue makes pending in one call when the
// caller does not say: a short transaction, and a bounded burst of work that the
// dispatcher's fair share then spreads among the tenants with work.
const RequeueBatch = 500

// PurgeBatch is how many deliveries PurgePayloads purges, and how many events it
// examines, in one call when the request does not say: enough to make progress, few enough that the
// transaction is short and deliveries keep flowing around it.
const PurgeBatch = 500

// PurgeRequest asks PurgePayloads for one batch of retention.
type PurgeRequest struct {
	// Before is the retention cutoff: finished deliveries whose last activity
	// (UpdatedAt) is before it lose their attempts' response bodies, and events all of
	// whose deliveries are so (or that have none), created before it, lose their data.
	Before time.Time
	// Now is when the purge happens: the purge time recorded, and deliveries leased
	// until after it (a retry in flight) are left alone.
	Now time.Time
	// Limit bounds the deliveries purged, and separately the events examined, in the
	// batch: PurgeBatch when not above zero.
	Limit int
	// AfterEvent is where the pass's walk of old events resumes: the previous
	// batch's PurgeResult.NextEvent, or the zero cursor for a pass's first batch.
	// Events older than the cutoff that must keep their data (a delivery still
	// pending) are so passed over once per pass rather than read again by every
	// batch, which would make a pass over a large backlog quadratic.
	AfterEvent PurgeCursor
}

// PurgeCursor is a position in PurgePayloads' walk of events, in creation order: the
// last event a batch examined. The zero cursor is before the oldest event.
type PurgeCursor struct {
	CreatedAt time.Time
	ID        string
}

// PurgeResult says what one PurgePayloads call removed, and where the pass stands.
type PurgeResult struct {
	Deliveries int // deliveries whose attempts' response bodies were removed
	Events     int // events whose data was removed
	// NextEvent is the AfterEvent of the pass's next batch.
	NextEvent PurgeCursor
	// Done says the pass is over: no delivery is left to purge and the walk of events
	// reached the cutoff. A batch may purge nothing yet not be done, when every event
	// it examined must keep its data.
	Done bool
}
