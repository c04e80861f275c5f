package herald

import (
	"errors"
	"time"
)

// Per-key ordering: a webhook whose ordering is "key" receives the events that share an
// ordering key one at a time, in publish order. Each of its deliveries carries the
// event's key (Delivery.OrderingKey, empty for a webhook that does not order or an
// event without a key), and only a key's head may be attempted: its pending delivery
// that comes first in publish order, by creation time and then id. The next one waits
// until the head has succeeded, has failed for good (retries exhausted, its webhook
// disabled, or skipped by hand with Store.SkipDelivery), whether or not it is due.
// Deliveries without a key never wait.

// SkippedByHand is the last error of a delivery given up by hand (Store.SkipDelivery).
const SkippedByHand = "skipped by hand"

// MaxBlockedKeys is how many blocked keys Store.BlockedKeys lists at most.
const MaxBlockedKeys = 100

// BlockedKey is an ordering key of a webhook whose head delivery has failed at least one
// attempt: the deliveries behind it wait until it succeeds, runs out of retries, or is
// skipped by hand.
type BlockedKey struct {
	Key            string     `json:"key" doc:"The ordering key"`
	HeadDeliveryID string     `json:"head_delivery_id" doc:"The key's head: the delivery the others wait for"`
	EventID        string     `json:"event_id" doc:"The head's event"`
	EventType      string     `json:"event_type" doc:"The head's event type"`
	AttemptCount   int        `json:"attempt_count" doc:"How many attempts the head has made, all failed"`
	LastError      string     `json:"last_error" doc:"What the head's latest attempt got: the error, or the HTTP status"`
	NextAttemptAt  *time.Time `json:"next_attempt_at" doc:"When the head is tried again"`
	CreatedAt      time.Time  `json:"created_at" doc:"When the head was published"`
	Waiting        int        `json:"waiting" doc:"How many pending deliveries of the key wait behind the head"`
}

// ErrNotHead is what a store returns for a manual retry of a pending delivery that
// waits behind its key's head: sending it first would break the key's order. It is an
// ECONFLICT *Error (errors.As finds it) that IsNotHead tells from other conflicts.
func ErrNotHead(id, key, head string) error {
	return notHeadError{Errorf(ECONFLICT,
		"delivery %q waits behind delivery %q, the head of its ordering key %q: retry or skip that one first", id, head, key)}
}

// notHeadError marks the conflict of ErrNotHead.
type notHeadError struct{ err *Error }

func (e notHeadError) Error() string { return e.err.Error() }
func (e notHeadError) Unwrap() error { return e.err }

// IsNotHead reports whether err is, or wraps, an ErrNotHead.
func IsNotHead(err error) bool {
	var e notHeadError
	return errors.As(err, &e)
}

// DecideSkip says whether a delivery of status st, under an unexpired lease or not, may
// be skipped by hand: only a pending delivery no attempt of which is under way.
func DecideSkip(id string, st DeliveryStatus, leased bool) error {
	switch {
	case st != StatusPending:
		return Errorf(ECONFLICT, "delivery %q is %s already: only a pending delivery can be skipped", id, st)
	case leased:
		return Errorf(ECONFLICT, "delivery %q is being sent right now; try again when its attempt is recorded", id)
	}
	return nil
}

// KeyedWebhooks returns the ids of the subscribers in st that order by key: the
// webhooks whose deliveries carry their event's ordering key.
func KeyedWebhooks(st *PublishState) map[string]bool {
	keyed := map[string]bool{}
	for _, ws := range st.Subscribers {
		for _, w := range ws {
			if w.Ordering == OrderingKey {
				keyed[w.ID] = true
			}
		}
	}
	return keyed
}

// DeliveryOrderingKey is the ordering key of a delivery of e to a webhook: e's key when
// the webhook orders by key (keyed), "" when it does not, so its deliveries never wait.
func DeliveryOrderingKey(e *Event, keyed bool) string {
	if !keyed {
		return ""
	}
	return e.OrderingKey
}
