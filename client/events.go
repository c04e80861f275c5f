package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
)

// Event is an event to publish. Type and Data are required.
type Event struct {
	// Type is the event type, from the catalog, like "drift.detected".
	Type string `json:"type"`
	// Data is the payload: any value that encodes to a JSON object matching the type's
	// schema, or a json.RawMessage sent as is.
	Data any `json:"data"`
	// TenantID is the tenant whose webhooks receive it; default the default tenant.
	TenantID string `json:"tenant_id,omitempty"`
	// ID is your id for the event: publishing it again within 24 h returns the first
	// result and sends nothing. Default a new evt_ id.
	ID string `json:"id,omitempty"`
	// Timestamp is when it happened; default now.
	Timestamp *time.Time `json:"timestamp,omitempty"`
	// Channels are the channels it is published on; webhooks that name channels get
	// only events on one of theirs.
	Channels []string `json:"channels,omitempty"`
	// OrderingKey sends the events with one key to an ordering webhook one at a time, in
	// order (at most 256 characters).
	OrderingKey string `json:"ordering_key,omitempty"`
}

// PublishOptions are the options of one Publish.
type PublishOptions struct {
	// IdempotencyKey makes a repeat of the request within 24 h a duplicate: nothing is
	// sent again. Default a new random key for this call, sent again on each retry, so
	// that a retry after a lost answer never publishes twice.
	IdempotencyKey string
}

// Published is what publishing an event did.
type Published struct {
	// ID is the event's id.
	ID string `json:"id"`
	// Deliveries is how many deliveries it made: one per subscribed webhook.
	Deliveries int `json:"deliveries"`
	// Duplicate says the event repeats one published before (same id or idempotency
	// key): the first result is returned and nothing is sent again.
	Duplicate bool `json:"-"`
}

// BatchResult is one event's outcome in a batch: Published, or Err.
type BatchResult struct {
	// Status is 202 for accepted, 200 for a repeat of an earlier event, or the error's.
	Status int
	// Published is set when the event was accepted.
	Published *Published
	// Err is why the event was refused, nil when accepted.
	Err *herald.Error
}

// EventWithDeliveries is an event and what became of it.
type EventWithDeliveries struct {
	herald.Event
	// Deliveries are its deliveries, newest first, with their latest attempts.
	Deliveries []herald.Delivery `json:"deliveries"`
	// DeliveriesTruncated says Deliveries holds only the newest of DeliveriesTotal.
	DeliveriesTruncated bool `json:"deliveries_truncated"`
	DeliveriesTotal     int  `json:"deliveries_total"`
}

// EventsService calls the event routes: /api/v1/events.
type EventsService struct{ c *Client }

// Publish publishes one event (admin key, or a tenant's key for its own events).
//
// It is retried safely: every try carries the same Idempotency-Key, so the server
// publishes the event at most once however many answers are lost.
func (s *EventsService) Publish(ctx context.Context, e Event, opts ...PublishOptions) (*Published, error) {
	key := ""
	for _, o := range opts {
		if o.IdempotencyKey != "" {
			key = o.IdempotencyKey
		}
	}
	if key == "" {
		key = newIdempotencyKey()
	}
	body, err := eventBody(e)
	if err != nil {
		return nil, err
	}
	var out Published
	resp, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("events"), body: body,
		header: http.Header{"Idempotency-Key": {key}}, replayable: true}, &out)
	if err != nil {
		return nil, err
	}
	out.Duplicate = resp.StatusCode == http.StatusOK
	return &out, nil
}

// eventBody is e as the API reads it, Data encoded first so that a value that is not
// JSON is the caller's error, not the server's.
func eventBody(e Event) (any, error) {
	if e.Data == nil {
		return nil, fmt.Errorf("herald client: event %q has no data", e.Type)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("herald client: event %q: encode its data: %w", e.Type, err)
	}
	e.Data = json.RawMessage(data)
	return e, nil
}

// PublishBatch publishes up to 1000 events in one request and returns each one's
// outcome, in order. One refused event does not stop the others.
//
// The batch is retried after a failure that may have reached the server only when
// every event has an ID, which the server dedupes on; otherwise a retry could publish
// some twice, and the error is returned.
func (s *EventsService) PublishBatch(ctx context.Context, events []Event) ([]BatchResult, error) {
	body := struct {
		Events []any `json:"events"`
	}{Events: make([]any, len(events))}
	replayable := true
	for i, e := range events {
		var err error
		if body.Events[i], err = eventBody(e); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		replayable = replayable && e.ID != ""
	}
	var out struct {
		Results []struct {
			Status     int    `json:"status"`
			ID         string `json:"id"`
			Deliveries *int   `json:"deliveries"`
			Error      string `json:"error"`
			Code       string `json:"code"`
			Details    string `json:"details"`
		} `json:"results"`
	}
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("events", "batch"), body: body, replayable: replayable}, &out); err != nil {
		return nil, err
	}
	results := make([]BatchResult, len(out.Results))
	for i, r := range out.Results {
		results[i].Status = r.Status
		if r.Status >= 200 && r.Status <= 299 {
			p := &Published{ID: r.ID, Duplicate: r.Status == http.StatusOK}
			if r.Deliveries != nil {
				p.Deliveries = *r.Deliveries
			}
			results[i].Published = p
			continue
		}
		results[i].Err = &herald.Error{Message: r.Error, Code: r.Code, Details: r.Details}
	}
	return results, nil
}

// Get returns an event and its deliveries.
func (s *EventsService) Get(ctx context.Context, id string) (*EventWithDeliveries, error) {
	var out EventWithDeliveries
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("events", id), replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
