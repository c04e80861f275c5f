package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// eventType is one catalog entry.
type eventType struct {
	Type        string          `json:"type" doc:"The type name" example:"drift.detected"`
	Description string          `json:"description" doc:"When it is sent"`
	Schema      json.RawMessage `json:"schema" doc:"JSON Schema (draft 2020-12) its data must match"`
	Sample      json.RawMessage `json:"sample,omitempty" doc:"An example of its data"`
}

type createEventTypeRequest struct {
	Type        string          `json:"type" minLength:"1" maxLength:"200" doc:"The new type's name" example:"invoice.paid"`
	Description string          `json:"description" maxLength:"2000"`
	Schema      json.RawMessage `json:"schema" doc:"JSON Schema (draft 2020-12) its data must match"`
	Sample      json.RawMessage `json:"sample,omitempty" doc:"An example of its data; must match the schema"`
}

type eventTypesOutput struct {
	Body []eventType
}

type createEventTypeInput struct {
	Body createEventTypeRequest
}

type eventTypeOutput struct {
	Body eventType
}

func (s *server) registerEventTypes() {
	tags := []string{"Event types"}
	register(s, huma.Operation{
		OperationID: "list-webhook-events", Method: http.MethodGet, Path: "/api/v1/webhooks/events",
		Summary: "List the event types webhooks can subscribe to",
		Tags:    tags, Security: security, Errors: []int{401},
	}, s.listEventTypes)
	register(s, huma.Operation{
		OperationID: "list-event-types", Method: http.MethodGet, Path: "/api/v1/event-types",
		Summary: "List the event catalog", Tags: tags, Security: security, Errors: []int{401},
	}, s.listEventTypes)
	register(s, huma.Operation{
		OperationID: "create-event-type", Method: http.MethodPost, Path: "/api/v1/event-types",
		Summary:     "Add a custom event type",
		Description: "Admin only. 409 if the type exists.",
		Tags:        tags, Security: security, Metadata: map[string]any{adminOnly: true},
		DefaultStatus: http.StatusCreated, MaxBodyBytes: maxBody + 1,
		Errors: []int{400, 401, 403, 409, 413, 422},
	}, s.createEventType)
}

func toEventType(t herald.EventType) eventType {
	return eventType{Type: t.Type, Description: t.Description, Schema: t.Schema, Sample: t.Sample}
}

func (s *server) listEventTypes(ctx context.Context, _ *struct{}) (*eventTypesOutput, error) {
	if err := s.syncCatalog(ctx); err != nil {
		return nil, err
	}
	types := slices.Clone(s.catalog.List()) // sorted here, not in the catalog
	slices.SortFunc(types, func(a, b herald.EventType) int { return strings.Compare(a.Type, b.Type) })
	out := &eventTypesOutput{Body: make([]eventType, 0, len(types))}
	for _, t := range types {
		out.Body = append(out.Body, toEventType(t))
	}
	return out, nil
}

func (s *server) createEventType(ctx context.Context, in *createEventTypeInput) (*eventTypeOutput, error) {
	if err := s.syncCatalog(ctx); err != nil {
		return nil, err
	}
	t := herald.EventType{
		Type:        strings.TrimSpace(in.Body.Type),
		Description: in.Body.Description,
		Schema:      in.Body.Schema,
		Sample:      in.Body.Sample,
	}
	if len(t.Sample) == 0 || string(t.Sample) == "null" {
		t.Sample = nil
	}
	if _, ok := s.catalog.Lookup(t.Type); ok {
		return nil, herald.Errorf(herald.ECONFLICT, "event type %q exists", t.Type)
	}
	// Stored first, so the catalog never holds a type the store does not: a failed
	// write leaves nothing behind, and a retry is not told the type exists.
	if err := s.catalog.Check(t); err != nil {
		return nil, err
	}
	if err := s.store.CreateEventType(ctx, &t); err != nil {
		if herald.ErrorCode(err) == herald.ECONFLICT {
			return nil, herald.Errorf(herald.ECONFLICT, "event type %q exists", t.Type)
		}
		return nil, err
	}
	if err := s.catalog.Add(t); err != nil && herald.ErrorCode(err) != herald.ECONFLICT {
		return nil, err // a concurrent sync may have added it from the store already
	}
	return &eventTypeOutput{Body: toEventType(t)}, nil
}
