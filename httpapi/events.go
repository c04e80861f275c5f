package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald"
)

// eventRequest is one event to publish.
type eventRequest struct {
	Type      string          `json:"type" minLength:"1" maxLength:"200" doc:"The event type, from the catalog" example:"drift.detected"`
	Data      json.RawMessage `json:"data" doc:"The event's payload; must match the type's JSON Schema"`
	TenantID  string          `json:"tenant_id,omitempty" doc:"The tenant whose webhooks receive it; default the default tenant"`
	ID        string          `json:"id,omitempty" pattern:"^[A-Za-z0-9_.:-]{1,128}$" doc:"Your id for the event: publishing the same id again within 24 h returns the first result and sends nothing; default a new evt_ id"`
	Timestamp string          `json:"timestamp,omitempty" format:"date-time" doc:"When it happened (RFC 3339); default now. Sent in UTC, whole seconds"`
	// Channels and OrderingKey route the event: see routing.go.
	Channels    []string `json:"channels,omitempty" maxItems:"10" doc:"Up to 10 channels, each 1 to 128 of a-z 0-9 . _ : -. A webhook with channels receives only events sharing one of them; one without, every event of its types" example:"[\"prod\",\"eu-west-1\"]"`
	OrderingKey string   `json:"ordering_key,omitempty" maxLength:"256" doc:"Groups events that a webhook with ordering \"key\" delivers one at a time, in publish order: up to 256 characters" example:"customer_42"`
}

// publishResult is what publishing one event did.
type publishResult struct {
	ID         string `json:"id" doc:"The event's id"`
	Deliveries int    `json:"deliveries" doc:"How many deliveries were created (webhooks subscribed)"`
}

// batchResult is one item's outcome in a batch: a result or an error.
type batchResult struct {
	Status     int    `json:"status" doc:"202 accepted, 200 a repeat of an earlier event, or the error's status"`
	ID         string `json:"id,omitempty" doc:"The event's id, when accepted"`
	Deliveries *int   `json:"deliveries,omitempty" doc:"Deliveries created, when accepted"`
	Error      string `json:"error,omitempty" doc:"What went wrong, when refused"`
	Code       string `json:"code,omitempty" doc:"Machine-readable error code, when refused"`
	Details    string `json:"details,omitempty" doc:"More about the error, when refused"`
}

// eventWithDeliveries is an event and what became of it.
type eventWithDeliveries struct {
	herald.Event
	Deliveries []herald.Delivery `json:"deliveries" doc:"Its deliveries, newest first, each with its latest attempts: at most 100, and at most 1 MiB of them"`
	// DeliveriesTruncated says Deliveries is not all of them.
	DeliveriesTruncated bool `json:"deliveries_truncated" doc:"true when deliveries holds only the newest: list the rest with GET /api/v1/deliveries?event_id=…"`
	DeliveriesTotal     int  `json:"deliveries_total" doc:"How many deliveries the event has"`
}

type publishInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"A key that makes a retried request safe: a repeat within 24 h returns the first result"`
	Body           eventRequest
}

type publishOutput struct {
	Status int
	Body   publishResult
}

type batchInput struct {
	Body struct {
		Events []json.RawMessage `json:"events" minItems:"1" maxItems:"1000" doc:"Up to 1000 events, each as for POST /api/v1/events"`
	}
}

type batchOutput struct {
	Body struct {
		Results []batchResult `json:"results" doc:"One per event, in order"`
	}
}

type eventInput struct {
	ID string `path:"id" doc:"The event's id"`
}

type eventOutput struct {
	Body eventWithDeliveries
}

func (s *server) registerEvents() {
	register(s, huma.Operation{
		OperationID:   "publish-event",
		Method:        http.MethodPost,
		Path:          "/api/v1/events",
		Summary:       "Publish an event",
		Description:   "Stores the event and one delivery per subscribed webhook of its tenant, then answers 202. A repeated id or Idempotency-Key within 24 h answers 200 with the first result and sends nothing. Admin only.",
		Tags:          []string{"Events"},
		Security:      security,
		Metadata:      map[string]any{adminOnly: true},
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxBody + 1,
		Errors:        []int{400, 401, 403, 409, 413, 422, 503},
	}, s.publish)

	register(s, huma.Operation{
		OperationID:     "publish-events",
		Method:          http.MethodPost,
		Path:            "/api/v1/events/batch",
		Summary:         "Publish up to 1000 events",
		Description:     "Validates every event and stores the valid ones in one transaction. Answers 202 with one result per event, in order: accepted (202), a repeat (200) or refused (the error; 413 for an event over the single-event limit of 1 MiB). Admin only.",
		Tags:            []string{"Events"},
		Security:        security,
		Metadata:        map[string]any{adminOnly: true},
		DefaultStatus:   http.StatusAccepted,
		MaxBodyBytes:    maxBatchBody + 1,
		BodyReadTimeout: 30 * time.Second,
		Errors:          []int{400, 401, 403, 413, 422, 503},
	}, s.publishBatch)

	register(s, huma.Operation{
		OperationID: "get-event",
		Method:      http.MethodGet,
		Path:        "/api/v1/events/{id}",
		Summary:     "Get an event and its deliveries",
		Description: "The event with its newest deliveries, at most 100 and at most 1 MiB of them; deliveries_truncated says when there are more, which GET /api/v1/deliveries?event_id= lists.",
		Tags:        []string{"Events"},
		Security:    security,
		Errors:      []int{401, 404},
	}, s.getEvent)
}

func (s *server) publish(ctx context.Context, in *publishInput) (*publishOutput, error) {
	r, err := s.publishOne(ctx, caller(ctx), &in.Body, in.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	out := &publishOutput{Status: http.StatusAccepted, Body: publishResult{ID: r.EventID, Deliveries: r.Deliveries}}
	if r.Duplicate {
		out.Status = http.StatusOK
	}
	return out, nil
}

// publishOne prepares one event request for p and publishes it: the path of POST
// /api/v1/events, and of Publisher.
func (s *server) publishOne(ctx context.Context, p principal, req *eventRequest, idempotencyKey string) (herald.PublishResult, error) {
	now := s.clock.Now().UTC()
	tenants := map[string]ownerCheck{}
	pub, err := s.prepareEvent(ctx, p, req, now, tenants)
	if err != nil {
		return herald.PublishResult{}, err
	}
	pub.IdempotencyKey = idempotencyKey
	ctx, span := s.startPublish(ctx, &pub.Event)
	results, err := s.store.Publish(ctx, []herald.Publication{pub})
	if err == nil && len(results) != 1 {
		err = fmt.Errorf("publish: store returned %d results for 1 event", len(results))
	}
	if err != nil {
		endPublish(span, herald.PublishResult{}, err)
		return herald.PublishResult{}, err
	}
	r := results[0]
	endPublish(span, r, nil)
	if !r.Duplicate {
		s.metrics.eventsAccepted.WithLabelValues(pub.Event.Type).Inc()
		s.dispatcher.Wake()
	}
	return r, nil
}

func (s *server) publishBatch(ctx context.Context, in *batchInput) (*batchOutput, error) {
	now := s.clock.Now().UTC()
	p := caller(ctx)
	items := in.Body.Events
	out := &batchOutput{}
	out.Body.Results = make([]batchResult, len(items))

	tenants := map[string]ownerCheck{}
	var pubs []herald.Publication
	var index []int // index[i] is the item pubs[i] came from
	for i, raw := range items {
		if len(raw) > maxBody {
			// Each event obeys the single-event limit, so a batch is no way around it; the
			// item is refused on its own, like any other invalid item.
			out.Body.Results[i] = failedResult(answer(&herald.Error{
				Code:    herald.ETOOLARGE,
				Message: fmt.Sprintf("event is %d bytes; each event in a batch may be at most %d bytes, as for POST /api/v1/events", len(raw), maxBody),
				Details: fmt.Sprintf("the limit is %d bytes", maxBody),
			}))
			continue
		}
		req, err := decodeEventRequest(raw)
		if err == nil {
			var pub herald.Publication
			pub, err = s.prepareEvent(ctx, p, req, now, tenants)
			if err == nil {
				pubs = append(pubs, pub)
				index = append(index, i)
				continue
			}
		}
		e := toAPIError(ctx, s.log, err)
		if e.status >= 500 {
			// The store failed while checking a tenant or loading event types: nothing
			// is written yet, so the whole request can be retried.
			return nil, e
		}
		out.Body.Results[i] = failedResult(e)
	}
	if len(pubs) == 0 {
		return out, nil
	}
	// A span per event, each the root of the event's own trace, covering the one
	// transaction they are stored in.
	spans := make([]trace.Span, len(pubs))
	for j := range pubs {
		_, spans[j] = s.startPublish(ctx, &pubs[j].Event)
	}

	results, err := s.store.Publish(ctx, pubs)
	if err == nil && len(results) != len(pubs) {
		err = fmt.Errorf("publish: store returned %d results for %d events", len(results), len(pubs))
	}
	refused := make([]error, len(pubs)) // why each publication refused one by one was
	switch {
	case herald.ErrorCode(err) == herald.ECONFLICT:
		// One of them is refused (an id another tenant used), and the transaction with
		// it: publish them one by one to find which, committing the others.
		results = make([]herald.PublishResult, len(pubs))
		for j, pub := range pubs {
			rs, err := s.store.Publish(ctx, []herald.Publication{pub})
			if err == nil && len(rs) != 1 {
				err = fmt.Errorf("publish: store returned %d results for 1 event", len(rs))
			}
			if err != nil {
				refused[j] = err
				out.Body.Results[index[j]] = failedResult(toAPIError(ctx, s.log, err))
				continue
			}
			results[j] = rs[0]
		}
	case err != nil:
		for _, span := range spans {
			endPublish(span, herald.PublishResult{}, err)
		}
		return nil, err
	}
	for j, span := range spans {
		endPublish(span, results[j], refused[j])
	}

	accepted := false
	for j, r := range results {
		if r.EventID == "" {
			continue // refused above
		}
		n := r.Deliveries
		res := batchResult{Status: http.StatusAccepted, ID: r.EventID, Deliveries: &n}
		if r.Duplicate {
			res.Status = http.StatusOK
		} else {
			accepted = true
			s.metrics.eventsAccepted.WithLabelValues(pubs[j].Event.Type).Inc()
		}
		out.Body.Results[index[j]] = res
	}
	if accepted {
		s.dispatcher.Wake()
	}
	return out, nil
}

func failedResult(e *apiError) batchResult {
	return batchResult{Status: e.status, Error: e.Message, Code: e.Code, Details: e.Details}
}

// decodeEventRequest decodes one batch item as strictly as huma decodes a single event.
func decodeEventRequest(raw json.RawMessage) (*eventRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req eventRequest
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			// Every field but data is a string; data takes any JSON value.
			return nil, invalid(typeErr.Field, "%s must be a string", typeErr.Field)
		}
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return nil, invalid(err.Error(), "the event is not valid")
		}
		return nil, invalid("", "the event must be a JSON object")
	}
	if req.Type == "" {
		return nil, invalid("type", "type is required")
	}
	return &req, nil
}

// ownerCheck is the outcome of resolving one requested tenant_id.
type ownerCheck struct {
	id  string
	err error
}

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// prepareEvent checks one event request and turns it into a publication: its tenant,
// id, timestamp, and data against the catalog. tenants caches tenant checks across a
// batch.
func (s *server) prepareEvent(ctx context.Context, p principal, req *eventRequest, now time.Time, tenants map[string]ownerCheck) (herald.Publication, error) {
	var pub herald.Publication
	owner, checked := tenants[req.TenantID]
	if !checked {
		owner.id, owner.err = s.owner(ctx, p, req.TenantID)
		tenants[req.TenantID] = owner
	}
	if owner.err != nil {
		return pub, owner.err
	}
	tenantID := owner.id

	id := req.ID
	if id == "" {
		id = herald.NewID(herald.PrefixEvent)
	} else if !eventIDPattern.MatchString(id) {
		return pub, invalid("id", "id must be 1 to 128 letters, digits, or any of _ . : -")
	}

	timestamp := now.Truncate(time.Second)
	if req.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, req.Timestamp)
		if err != nil {
			return pub, invalid("timestamp", "timestamp must be an RFC 3339 date-time, like 2024-01-15T14:30:00Z")
		}
		timestamp = t.UTC().Truncate(time.Second)
	}

	data := bytes.TrimSpace(req.Data)
	if len(data) == 0 {
		return pub, invalid("data", "data is required")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return pub, invalid("data", "data is not valid JSON")
	}
	data = compact.Bytes()
	if err := checkStructure(data, "data", maxDataDepth); err != nil {
		var se *structureError
		if errors.As(err, &se) {
			return pub, invalid("/data"+se.Pointer, "%s at /data%s", se.Problem, se.Pointer)
		}
		return pub, err
	}
	if err := s.validateEvent(ctx, req.Type, data); err != nil {
		return pub, err
	}
	if err := checkEventRouting(req); err != nil {
		return pub, err
	}

	pub.Event = herald.Event{
		ID:        id,
		TenantID:  tenantID,
		Type:      req.Type,
		Data:      data,
		Timestamp: timestamp,
		CreatedAt: now,
		Channels:  req.Channels,

		OrderingKey: req.OrderingKey,
	}
	return pub, nil
}

// validateEvent checks data against typ's schema. A type this process does not know may
// have been added by another process sharing the store: the catalog is reloaded from
// the store before the type is called unknown.
func (s *server) validateEvent(ctx context.Context, typ string, data json.RawMessage) error {
	if _, ok := s.catalog.Lookup(typ); !ok {
		if err := s.syncCatalog(ctx); err != nil {
			return err
		}
	}
	return s.catalog.Validate(typ, data)
}

// syncCatalog adds to the catalog the custom event types other processes stored.
func (s *server) syncCatalog(ctx context.Context) error {
	types, err := s.store.EventTypes(ctx)
	if err != nil {
		return fmt.Errorf("load event types: %w", err)
	}
	for _, t := range types {
		if _, ok := s.catalog.Lookup(t.Type); ok {
			continue
		}
		if err := s.catalog.Add(t); err != nil && herald.ErrorCode(err) != herald.ECONFLICT {
			// A stored type this build cannot compile is the operator's to fix; the
			// other types must keep working meanwhile.
			s.log.WarnContext(ctx, "stored event type refused by the catalog", "type", t.Type, "error", err)
		}
	}
	return nil
}

func (s *server) getEvent(ctx context.Context, in *eventInput) (*eventOutput, error) {
	p := caller(ctx)
	ev, err := s.store.Event(ctx, in.ID)
	ev, err = visible(p, "event", in.ID, ev, func(e *herald.Event) string { return e.TenantID }, err)
	if err != nil {
		return nil, err
	}
	// One page of deliveries, within the page budget: an event of many webhooks lists
	// the rest with GET /api/v1/deliveries?event_id=.
	ds, total, err := s.store.Deliveries(ctx, herald.DeliveryFilter{EventID: ev.ID, PerPage: 100})
	if err != nil {
		return nil, err
	}
	ds = normalizeDeliveries(ds)
	n, err := withinBudget(ds, pageBudget)
	if err != nil {
		return nil, err
	}
	out := &eventOutput{Body: eventWithDeliveries{Event: *ev, Deliveries: ds[:n], DeliveriesTruncated: n < total, DeliveriesTotal: total}}
	return out, nil
}
