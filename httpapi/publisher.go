package httpapi

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald"
)

// Publisher publishes events that arrive other than by HTTP, such as from a message
// queue, by the rules of POST /api/v1/events, as the admin: the body decoded as strictly
// and held to the same 1 MiB, the tenant, id and timestamp rules, data checked against the
// catalog (reloaded from the store for a type another process added), idempotency by id
// and by key, the same publish span and herald_events_accepted_total, and the dispatcher
// woken for each new event.
type Publisher struct{ s *server }

// NewPublisher returns a Publisher on cfg's Store, Catalog and Dispatcher; Clock, Logger,
// Metrics, TracerProvider and StoreTimeout are used as by New, and the rest ignored. It
// panics if Store, Catalog or Dispatcher is missing, a wiring mistake. Built on the
// registry of a handler from New, the two count into the same series.
func NewPublisher(cfg Config) *Publisher {
	if cfg.Store == nil || cfg.Catalog == nil || cfg.Dispatcher == nil {
		panic("httpapi: NewPublisher needs Store, Catalog and Dispatcher")
	}
	cfg.fillDefaults()
	return &Publisher{s: &server{
		store:      cfg.Store,
		catalog:    cfg.Catalog,
		dispatcher: cfg.Dispatcher,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		metrics:    newAPIMetrics(cfg.Metrics),
		tracer:     newTracer(cfg.TracerProvider),
		storeLimit: cfg.StoreTimeout,
	}}
}

// MaxIdempotencyKey is the longest idempotency key Publish takes, as the Idempotency-Key
// header.
const MaxIdempotencyKey = 255

// Publish publishes the event body holds, a JSON object as the body of POST
// /api/v1/events, with idempotencyKey ("" for none) as its Idempotency-Key: a repeat of
// a key or an id within 24 h returns the first result, marked Duplicate, and stores
// nothing. The result says when it is committed.
//
// An error of code EINVALID, ETOOLARGE or ECONFLICT (an id another tenant used) refuses
// the event for what it is, so publishing it again fails the same way; any other error
// is the store's, and publishing it again may succeed.
func (p *Publisher) Publish(ctx context.Context, body []byte, idempotencyKey string) (herald.PublishResult, error) {
	s := p.s
	if len(body) > maxBody {
		return herald.PublishResult{}, &herald.Error{
			Code:    herald.ETOOLARGE,
			Message: fmt.Sprintf("event is %d bytes; an event may be at most %d bytes, as for POST /api/v1/events", len(body), maxBody),
			Details: fmt.Sprintf("the limit is %d bytes", maxBody),
		}
	}
	if len(idempotencyKey) > MaxIdempotencyKey {
		return herald.PublishResult{}, herald.Errorf(herald.EINVALID, "the idempotency key is %d bytes; at most %d", len(idempotencyKey), MaxIdempotencyKey)
	}
	req, err := decodeEventRequest(body)
	if err != nil {
		return herald.PublishResult{}, err
	}
	ctx, cancel := s.withStoreTimeout(ctx)
	defer cancel()
	return s.publishOne(ctx, principal{admin: true}, req, idempotencyKey)
}
