package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/filter"
)

// maxOrderingKey is the longest ordering key an event may carry, in characters.
const maxOrderingKey = 256

// replayBudget bounds how long one replay request walks events, below the server's
// write timeout: a window too large for it answers with complete false and where to
// resume.
const replayBudget = 60 * time.Second

// checkEventRouting checks an event's channels and ordering key.
func checkEventRouting(req *eventRequest) error {
	if err := herald.ValidateChannels("the event", req.Channels); err != nil {
		return invalidField("channels", err)
	}
	if n := utf8.RuneCountInString(req.OrderingKey); n > maxOrderingKey {
		return invalid("ordering_key", "ordering_key is %d characters long; the limit is %d", n, maxOrderingKey)
	}
	return nil
}

// checkRouting checks a webhook's channels and ordering, and, when checkFilter, its
// filter: compiled, cost-checked and, against the catalog, for fields of data that no
// subscribed type's schema has.
func (s *server) checkRouting(ctx context.Context, w *herald.Webhook, checkFilter bool) error {
	if err := herald.ValidateChannels("the webhook", w.Channels); err != nil {
		return invalidField("channels", err)
	}
	switch w.Ordering {
	case "":
		w.Ordering = herald.OrderingNone
	case herald.OrderingNone, herald.OrderingKey:
	default:
		return invalid("ordering", "ordering must be %q or %q, not %q", herald.OrderingNone, herald.OrderingKey, w.Ordering)
	}
	if !checkFilter || w.Filter == "" {
		return nil
	}
	f, err := filter.Compile(w.Filter)
	if err != nil {
		return invalidField("filter", err)
	}
	if err := f.CheckFields(s.schemasOf(w.Events)); err != nil {
		return invalidField("filter", err)
	}
	filter.Shared.Add(f) // compiled now rather than by the next publish's transaction
	return nil
}

// schemasOf returns the schemas of the subscribed types (every type for none or "*"),
// or nil, which checks nothing, when one of them is not in the catalog.
func (s *server) schemasOf(events []string) []json.RawMessage {
	var types []herald.EventType
	if len(events) == 0 || slices.Contains(events, "*") {
		types = s.catalog.List()
	} else {
		for _, name := range events {
			t, ok := s.catalog.Lookup(name)
			if !ok {
				return nil
			}
			types = append(types, t)
		}
	}
	var out []json.RawMessage
	for _, t := range types {
		if t.Type == herald.PingType {
			continue
		}
		if len(t.Schema) == 0 {
			return nil // a type without a schema: data stays dynamic
		}
		out = append(out, t.Schema)
	}
	return out
}

type replayInput struct {
	ID   string `path:"id" doc:"The webhook's id"`
	Body struct {
		Since      time.Time  `json:"since" doc:"Replay events created at or after this time (RFC 3339)" example:"2026-12-01T00:00:00Z"`
		Until      *time.Time `json:"until,omitempty" doc:"…and before this time; default now"`
		Types      []string   `json:"types,omitempty" maxItems:"500" doc:"Only events of these types (among those the webhook subscribes to); default every type it subscribes to"`
		OnlyFailed bool       `json:"only_failed,omitempty" doc:"Only events whose latest delivery to this webhook failed"`
	}
}

type replayOutput struct {
	Body struct {
		Replayed int  `json:"replayed" doc:"New deliveries created"`
		Skipped  int  `json:"skipped" doc:"Events the webhook takes whose data retention removed: nothing to send"`
		Complete bool `json:"complete" doc:"true when the whole window was walked; false when the request's time ran out first: replay again with since set to resume_since"`
		// ResumeSince is where a replay that ran out of time picks up.
		ResumeSince *time.Time `json:"resume_since,omitempty" doc:"When complete is false: the since to replay the rest of the window with (an event at exactly this time may be sent twice)"`
	}
}

type filterTestInput struct {
	Body struct {
		Filter    string          `json:"filter" minLength:"1" maxLength:"4096" doc:"The CEL expression to test" example:"data.severity == \"critical\""`
		EventType string          `json:"event_type" minLength:"1" maxLength:"200" doc:"The type of the event to test against" example:"drift.detected"`
		Data      json.RawMessage `json:"data,omitempty" doc:"The event's data; default the catalog's sample of the type"`
		Channels  []string        `json:"channels,omitempty" maxItems:"10" doc:"The event's channels"`
		Events    []string        `json:"events,omitempty" maxItems:"500" doc:"The webhook's subscribed types, to check the filter's fields against their schemas; default event_type"`
	}
}

type filterTestOutput struct {
	Body struct {
		Matched bool   `json:"matched" doc:"Whether the event would be delivered by the filter"`
		Error   string `json:"error,omitempty" doc:"Why the filter is refused (compile, cost or schema check: the webhook would not be saved with it) or why its evaluation fails on this event (then it does not match)"`
		Valid   bool   `json:"valid" doc:"Whether a webhook may be saved with this filter"`
	}
}

func (s *server) registerRouting() {
	tags := []string{"Webhooks"}
	register(s, huma.Operation{
		OperationID: "replay-webhook", Method: http.MethodPost, Path: "/api/v1/webhooks/{id}/replay",
		Summary: "Replay stored events to a webhook",
		Description: "Creates new deliveries, to this webhook only, of the stored events created in [since, until) that it takes now: " +
			"its current types (narrowed by types), channels and filter; pings are never replayed. Each delivery carries the event's own id " +
			"(standard's webhook-id, frugally's id), so a receiver that deduplicates on it drops events it already handled; InfraAudit's " +
			"delivery_id is new for each replayed delivery. Events whose data retention removed are counted in skipped. " +
			"The window is walked in short transactions of 500 events, so a large one holds up neither publishing nor dispatching; " +
			"a window too large for one request answers complete: false with resume_since. The webhook must be enabled.",
		Tags: tags, Security: security, DefaultStatus: http.StatusAccepted, MaxBodyBytes: maxBody + 1,
		Errors: []int{400, 401, 404, 409, 422},
	}, s.replayWebhook)
	register(s, huma.Operation{
		OperationID: "test-filter", Method: http.MethodPost, Path: "/api/v1/filters/test",
		Summary: "Test a filter against an event",
		Description: "Compiles a webhook filter, checks it as creating a webhook would, and evaluates it against the catalog's sample " +
			"of event_type (or the data given). Answers 200 whatever the outcome: valid says whether a webhook may have it, matched whether " +
			"the event would be delivered, error why not.",
		Tags: tags, Security: security, MaxBodyBytes: maxBody + 1, Errors: []int{400, 401, 422},
	}, s.testFilter)
}

// replayWebhook walks the window batch by batch, each batch under the store timeout
// (the operation is not bounded as a whole: see register) and the walk under
// replayBudget.
func (s *server) replayWebhook(ctx context.Context, in *replayInput) (*replayOutput, error) {
	lctx, cancel := s.withStoreTimeout(ctx)
	w, err := s.webhook(lctx, caller(ctx), in.ID)
	cancel()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	r := herald.ReplayRequest{WebhookID: w.ID, Since: in.Body.Since.UTC(), Until: now, OnlyFailed: in.Body.OnlyFailed, Now: now}
	if in.Body.Until != nil {
		r.Until = in.Body.Until.UTC()
	}
	if err := herald.ValidateReplay(&r); err != nil {
		return nil, invalidField("since", err)
	}
	if len(in.Body.Types) > 0 {
		if r.Types, err = s.checkEvents(ctx, in.Body.Types); err != nil {
			return nil, invalidField("types", err)
		}
		if slices.Contains(r.Types, "*") {
			r.Types = nil
		}
	}
	if err := herald.ValidateReplayTarget(w); err != nil {
		return nil, err
	}
	out := &replayOutput{}
	deadline := time.Now().Add(replayBudget)
	for {
		bctx, cancel := s.withStoreTimeout(ctx)
		res, err := s.store.Replay(bctx, r)
		cancel()
		if err != nil {
			if out.Body.Replayed > 0 {
				s.dispatcher.Wake()
			}
			return nil, err
		}
		out.Body.Replayed += res.Replayed
		out.Body.Skipped += res.Skipped
		if res.Replayed > 0 {
			s.dispatcher.Wake()
		}
		if res.Done {
			out.Body.Complete = true
			return out, nil
		}
		r.After = res.Next
		if time.Now().After(deadline) || ctx.Err() != nil {
			resume := res.Next.CreatedAt
			out.Body.ResumeSince = &resume
			return out, nil
		}
	}
}

func (s *server) testFilter(ctx context.Context, in *filterTestInput) (*filterTestOutput, error) {
	req := &in.Body
	t, ok := s.catalog.Lookup(req.EventType)
	if !ok {
		if err := s.syncCatalog(ctx); err != nil {
			return nil, err
		}
		if t, ok = s.catalog.Lookup(req.EventType); !ok {
			return nil, invalid("event_type", "unknown event type %q: see GET /api/v1/event-types", req.EventType)
		}
	}
	data := req.Data
	if len(data) == 0 {
		data = t.Sample
	}
	if len(data) == 0 {
		return nil, invalid("data", "event type %q has no sample: give data to test against", req.EventType)
	}
	if err := herald.ValidateChannels("the event", req.Channels); err != nil {
		return nil, invalidField("channels", err)
	}
	events := req.Events
	if len(events) == 0 {
		events = []string{req.EventType}
	}
	out := &filterTestOutput{}
	f, err := filter.Compile(req.Filter)
	if err == nil {
		err = f.CheckFields(s.schemasOf(events))
	}
	if err != nil {
		out.Body.Error = herald.ErrorMessage(err)
		return out, nil
	}
	out.Body.Valid = true
	tenant := herald.DefaultTenantID
	if p := caller(ctx); p.tenant != nil {
		tenant = p.tenant.ID
	}
	e := &herald.Event{Type: req.EventType, TenantID: tenant, Data: data, Channels: req.Channels}
	matched, err := f.Eval(filter.NewInput(e))
	out.Body.Matched = matched
	if err != nil {
		out.Body.Error = "on this event: " + err.Error()
	}
	return out, nil
}
