package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// orderingDoc says what a webhook's per-key ordering promises, for the operations that
// act on it.
const orderingDoc = "A webhook whose ordering is \"key\" delivers the events that share an ordering_key one at a " +
	"time, in publish order: each waits until the one before it has succeeded, has run out of retries, or was " +
	"skipped by hand. The head of a key is its first pending delivery."

type blockedKeysInput struct {
	ID string `path:"id" doc:"The webhook's id"`
}

type blockedKeysOutput struct {
	Body []herald.BlockedKey
}

func (s *server) registerOrdering() {
	register(s, huma.Operation{
		OperationID: "list-blocked-keys", Method: http.MethodGet, Path: "/api/v1/webhooks/{id}/blocked-keys",
		Summary: "List a webhook's blocked ordering keys",
		Description: "The ordering keys whose head delivery has failed at least one attempt, oldest head first, at most 100: " +
			"each with its head delivery, the head's attempts, last error and next attempt, and how many deliveries wait " +
			"behind it. Retry the head (POST /api/v1/deliveries/{id}/retry) to try it now, or skip it " +
			"(POST /api/v1/deliveries/{id}/skip) to give it up and release the key. " + orderingDoc,
		Tags: []string{"Webhooks"}, Security: security, Errors: []int{401, 404},
	}, s.listBlockedKeys)
	register(s, huma.Operation{
		OperationID: "skip-delivery", Method: http.MethodPost, Path: "/api/v1/deliveries/{id}/skip",
		Summary: "Give a pending delivery up by hand",
		Description: "Marks a pending delivery failed, with last_error \"skipped by hand\", without sending it, and answers " +
			"with the delivery. When it is the head of an ordering key, the key's next delivery is sent at once. " +
			"An attempt under way is waited for, up to 5 seconds, and the skip then applies only if the delivery is " +
			"still pending: giving it up while it is sent would let the key's next delivery overtake it. " +
			"409 when the delivery is not pending, or its attempt is still under way after 5 seconds. " + orderingDoc,
		Tags: []string{"Deliveries"}, Security: security, Errors: []int{401, 404, 409},
	}, s.skipDelivery)
}

func (s *server) listBlockedKeys(ctx context.Context, in *blockedKeysInput) (*blockedKeysOutput, error) {
	w, err := s.webhook(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.BlockedKeys(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	return &blockedKeysOutput{Body: keys}, nil
}

// skipWaitsForAttempt is how long a skip waits for an attempt under way to be recorded.
const skipWaitsForAttempt = 5 * time.Second

func (s *server) skipDelivery(ctx context.Context, in *deliveryInput) (*deliveryOutput, error) {
	d, err := s.delivery(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	// A conflict while the delivery is still pending is an attempt under way: wait for
	// its record, since its answer may finish the delivery, rather than race it.
	give := time.Now().Add(skipWaitsForAttempt)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-time.Second).Before(give) {
		give = dl.Add(-time.Second)
	}
	for {
		skipped, err := s.store.SkipDelivery(ctx, d.ID, s.clock.Now())
		if err == nil {
			d = skipped
			break
		}
		if herald.ErrorCode(err) != herald.ECONFLICT || time.Now().After(give) {
			return nil, err
		}
		if now, rerr := s.store.Delivery(ctx, d.ID); rerr != nil || now.Status != herald.StatusPending {
			return nil, err // finished meanwhile: the conflict says how
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(25 * time.Millisecond): // polling for the record, not waiting it out
		}
	}
	if d.OrderingKey != "" {
		s.dispatcher.Wake() // the key's next delivery is claimable now
	}
	normalizeDelivery(d)
	return &deliveryOutput{Body: *d}, nil
}
