package client

import (
	"context"
	"iter"
	"net/http"

	"github.com/heraldhq/herald"
)

// DeliveriesService calls the delivery routes: /api/v1/deliveries. A delivery is one
// event to one webhook.
type DeliveriesService struct{ c *Client }

// List returns a page of deliveries, newest first.
func (s *DeliveriesService) List(ctx context.Context, opts DeliveryListOptions) (*Page[herald.Delivery], error) {
	return list[herald.Delivery](ctx, s.c, pathOf("deliveries"), opts.query())
}

// All iterates over every delivery from the page opts asks for (the first by default),
// fetching pages as it goes; it stops at the first error, which it yields.
func (s *DeliveriesService) All(ctx context.Context, opts DeliveryListOptions) iter.Seq2[herald.Delivery, error] {
	return all[herald.Delivery](ctx, s.c, pathOf("deliveries"), opts.query())
}

// Get returns a delivery with its latest attempts.
func (s *DeliveriesService) Get(ctx context.Context, id string) (*herald.Delivery, error) {
	var out herald.Delivery
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("deliveries", id), replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Attempts returns a page of a delivery's attempts.
func (s *DeliveriesService) Attempts(ctx context.Context, id string, opts ListOptions) (*Page[herald.Attempt], error) {
	return list[herald.Attempt](ctx, s.c, pathOf("deliveries", id, "attempts"), pageQuery(nil, opts))
}

// Retry sends a delivery again now, whatever its state, and returns it once the new
// attempt, its last, was made. It is never retried itself: that would be another
// attempt.
func (s *DeliveriesService) Retry(ctx context.Context, id string) (*herald.Delivery, error) {
	var out herald.Delivery
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("deliveries", id, "retry")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Skip gives a pending delivery up without sending it (failed, "skipped by hand"), so
// that an ordering webhook moves on to the next event of its key, and returns it. It is
// not retried after a failure that may have reached the server: a second skip of the
// same delivery is a conflict.
func (s *DeliveriesService) Skip(ctx context.Context, id string) (*herald.Delivery, error) {
	var out herald.Delivery
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("deliveries", id, "skip")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
