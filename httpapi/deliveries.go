package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// deliveryFilter builds the filter of a delivery list from its query.
func deliveryFilter(page, perPage int, status, eventType string, since, until time.Time) (herald.DeliveryFilter, error) {
	f := herald.DeliveryFilter{
		Status:    herald.DeliveryStatus(status),
		EventType: eventType,
		Since:     since.UTC(),
		Until:     until.UTC(),
		Page:      page,
		PerPage:   perPage,
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, invalid("since", "since must be before until")
	}
	return f, nil
}

type listDeliveriesInput struct {
	pageURL
	Page      int       `query:"page" minimum:"1" default:"1" doc:"Page number, from 1"`
	PerPage   int       `query:"per_page" minimum:"1" maximum:"100" default:"20" doc:"Items per page, at most 100"`
	Offset    int       `query:"offset" minimum:"0" doc:"How many items to skip, in place of page (the next-page Link uses it)"`
	Status    string    `query:"status" enum:"pending,retrying,success,failed" doc:"Only deliveries in this state; retrying: pending after at least one failed attempt"`
	EventType string    `query:"event_type" doc:"Only deliveries of this event type"`
	Since     time.Time `query:"since" doc:"Only deliveries created at or after this time (RFC 3339)"`
	Until     time.Time `query:"until" doc:"Only deliveries created before this time (RFC 3339)"`
	WebhookID string    `query:"webhook_id" doc:"Only this webhook's deliveries"`
	EventID   string    `query:"event_id" doc:"Only this event's deliveries"`
	Channel   string    `query:"channel" doc:"Only deliveries of events on this channel"`
	TenantID  string    `query:"tenant_id" doc:"Admin only: only this tenant's deliveries"`
}

type listDeliveriesOutput struct {
	TotalCount int      `header:"X-Total-Count" doc:"How many deliveries match, across all pages"`
	Link       []string `header:"Link" doc:"rel=\"next\": the next page, when more deliveries match; follow it rather than counting pages, since a page can stop early"`
	Truncated  *bool    `header:"X-Page-Truncated" doc:"true when the page stopped before per_page deliveries because it reached the byte budget of a page (1 MiB)"`
	Body       []herald.Delivery
}

type listAttemptsInput struct {
	pageURL
	ID      string `path:"id" doc:"The delivery's id"`
	Page    int    `query:"page" minimum:"1" default:"1" doc:"Page number, from 1"`
	PerPage int    `query:"per_page" minimum:"1" maximum:"100" default:"20" doc:"Items per page, at most 100"`
	Offset  int    `query:"offset" minimum:"0" doc:"How many items to skip, in place of page (the next-page Link uses it)"`
}

type listAttemptsOutput struct {
	TotalCount int      `header:"X-Total-Count" doc:"How many attempts the delivery keeps, across all pages"`
	Link       []string `header:"Link" doc:"rel=\"next\": the next page, when there are more; follow it rather than counting pages, since a page can stop early"`
	Truncated  *bool    `header:"X-Page-Truncated" doc:"true when the page stopped before per_page attempts because it reached the byte budget of a page (1 MiB)"`
	Body       []herald.Attempt
}

type deliveryInput struct {
	ID string `path:"id" doc:"The delivery's id"`
}

type deliveryOutput struct {
	Body herald.Delivery
}

// retryOutput is the delivery after a manual retry, and which of its attempts the
// retry made, so a client can say how that one went even if another follows at once.
type retryOutput struct {
	Attempt int `header:"Herald-Attempt" doc:"The number of the attempt this retry made: find it among the delivery's attempts"`
	Body    herald.Delivery
}

func (s *server) registerDeliveries() {
	tags := []string{"Deliveries"}
	register(s, huma.Operation{
		OperationID: "list-deliveries", Method: http.MethodGet, Path: "/api/v1/deliveries",
		Summary:     "List deliveries",
		Description: "Every delivery the key may see, newest first, each with its latest attempts. " + listPagesDoc,
		Tags:        tags, Security: security, Errors: []int{401, 403},
	}, s.listAllDeliveries)
	register(s, huma.Operation{
		OperationID: "get-delivery", Method: http.MethodGet, Path: "/api/v1/deliveries/{id}",
		Summary: "Get a delivery with its latest attempts", Description: deliveryAttemptsDoc,
		Tags: tags, Security: security, Errors: []int{401, 404},
	}, s.getDelivery)
	register(s, huma.Operation{
		OperationID: "list-delivery-attempts", Method: http.MethodGet, Path: "/api/v1/deliveries/{id}/attempts",
		Summary:     "List a delivery's attempts",
		Description: "Every attempt the delivery keeps, newest first. " + deliveryAttemptsDoc + " " + listPagesDoc,
		Tags:        tags, Security: security, Errors: []int{401, 404},
	}, s.listAttempts)
	register(s, huma.Operation{
		OperationID: "retry-delivery", Method: http.MethodPost, Path: "/api/v1/deliveries/{id}/retry",
		Summary:     "Send a delivery again now",
		Description: "Makes a new attempt now whatever the delivery's state, waits for it, and answers with the delivery and, in Herald-Attempt, the number of the attempt it made. A retry that fails never delays the retry already scheduled: a pending delivery keeps its next_attempt_at when that is sooner. 410 when retention has removed its event's data. 409 when an attempt is under way, or when the delivery is pending behind the head of its ordering key (the error names the head: retry or skip that one first); a finished delivery may always be sent again, outside its key's order.",
		Tags:        tags, Security: security, Errors: []int{401, 404, 409, 410},
	}, s.retryDelivery)
}

// delivery returns delivery id if p may see it, and the same 404 whether it does not
// exist or belongs to another tenant.
func (s *server) delivery(ctx context.Context, p principal, id string) (*herald.Delivery, error) {
	d, err := s.store.Delivery(ctx, id)
	d, err = visible(p, "delivery", id, d, func(d *herald.Delivery) string { return d.TenantID }, err)
	if err != nil {
		return nil, err
	}
	normalizeDelivery(d)
	return d, nil
}

func (s *server) listAllDeliveries(ctx context.Context, in *listDeliveriesInput) (*listDeliveriesOutput, error) {
	tenant, err := caller(ctx).scope(in.TenantID)
	if err != nil {
		return nil, err
	}
	f, err := deliveryFilter(in.Page, in.PerPage, in.Status, in.EventType, in.Since, in.Until)
	if err != nil {
		return nil, err
	}
	f.TenantID, f.WebhookID, f.EventID, f.Offset, f.Channel = tenant, in.WebhookID, in.EventID, in.Offset, in.Channel
	return s.listDeliveries(ctx, f, &in.pageURL)
}

// listPagesDoc says how every list of deliveries or attempts is paged.
const listPagesDoc = "The total is in X-Total-Count. A page stops early, with X-Page-Truncated: true, " +
	"once its items would pass 1 MiB of JSON; the Link header (rel=\"next\") gives the next page whenever more match."

// deliveryAttemptsDoc says which attempts a delivery keeps and which it embeds.
const deliveryAttemptsDoc = "A delivery keeps its first 3 and last 20 attempts; attempts_dropped counts those in " +
	"between, deleted as newer ones came. Its attempts field embeds the latest 5, oldest first; " +
	"GET /api/v1/deliveries/{id}/attempts lists them all."

// listDeliveries answers one page of f, cut at the page budget.
func (s *server) listDeliveries(ctx context.Context, f herald.DeliveryFilter, p *pageURL) (*listDeliveriesOutput, error) {
	ds, total, err := s.store.Deliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	ds = normalizeDeliveries(ds)
	n, err := withinBudget(ds, pageBudget)
	if err != nil {
		return nil, err
	}
	links := p.paginate(pageOffset(f.Page, f.PerPage, f.Offset), f.PerPage, len(ds), n, total)
	return &listDeliveriesOutput{TotalCount: links.TotalCount, Link: links.Link, Truncated: links.Truncated, Body: ds[:n]}, nil
}

func (s *server) listAttempts(ctx context.Context, in *listAttemptsInput) (*listAttemptsOutput, error) {
	d, err := s.delivery(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	as, total, err := s.store.Attempts(ctx, herald.AttemptFilter{DeliveryID: d.ID, Page: in.Page, PerPage: in.PerPage, Offset: in.Offset})
	if err != nil {
		return nil, err
	}
	if as == nil {
		as = []herald.Attempt{}
	}
	n, err := withinBudget(as, pageBudget)
	if err != nil {
		return nil, err
	}
	links := in.paginate(pageOffset(in.Page, in.PerPage, in.Offset), in.PerPage, len(as), n, total)
	return &listAttemptsOutput{TotalCount: links.TotalCount, Link: links.Link, Truncated: links.Truncated, Body: as[:n]}, nil
}

func (s *server) getDelivery(ctx context.Context, in *deliveryInput) (*deliveryOutput, error) {
	d, err := s.delivery(ctx, caller(ctx), in.ID)
	if err != nil {
		return nil, err
	}
	return &deliveryOutput{Body: *d}, nil
}

// retryDelivery runs without the store timeout on its whole request (see register):
// the attempt may take as long as the attempt timeout, so only the lookups before and
// after it are bounded here.
func (s *server) retryDelivery(ctx context.Context, in *deliveryInput) (*retryOutput, error) {
	p := caller(ctx)
	if _, err := s.boundedDelivery(ctx, p, in.ID); err != nil {
		return nil, err
	}
	a, err := s.dispatcher.DeliverNow(ctx, in.ID)
	if err != nil {
		if herald.ErrorCode(err) == herald.ECONFLICT && !herald.IsNotHead(err) {
			return nil, herald.Errorf(herald.ECONFLICT, "delivery %q is being sent right now: try again in a moment", in.ID)
		}
		return nil, err
	}
	d, err := s.boundedDelivery(ctx, p, in.ID)
	if err != nil {
		return nil, err
	}
	return &retryOutput{Attempt: a.Number, Body: *d}, nil
}

// boundedDelivery is delivery under the store timeout, for a handler that runs without
// one. Its error is mapped here, while the bounded context says whether it timed out.
func (s *server) boundedDelivery(ctx context.Context, p principal, id string) (*herald.Delivery, error) {
	ctx, cancel := s.withStoreTimeout(ctx)
	defer cancel()
	d, err := s.delivery(ctx, p, id)
	if err != nil {
		return nil, toAPIError(ctx, s.log, err)
	}
	return d, nil
}

// normalizeDeliveries makes lists and attempts encode as [] rather than null.
func normalizeDeliveries(ds []herald.Delivery) []herald.Delivery {
	if ds == nil {
		return []herald.Delivery{}
	}
	for i := range ds {
		normalizeDelivery(&ds[i])
	}
	return ds
}

func normalizeDelivery(d *herald.Delivery) {
	if d.Attempts == nil {
		d.Attempts = []herald.Attempt{}
	}
}
