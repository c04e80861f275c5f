package client

import (
	"context"
	"net/http"

	"github.com/heraldhq/herald"
)

// EventTypesService calls the catalog routes: /api/v1/event-types.
type EventTypesService struct{ c *Client }

// List returns the catalog: every event type with its schema and sample.
func (s *EventTypesService) List(ctx context.Context) ([]herald.EventType, error) {
	var out []herald.EventType
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("event-types"), replayable: true}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Create adds an event type to the catalog (admin key): its name, description, JSON
// Schema (draft 2020-12) and an optional sample that must match it.
func (s *EventTypesService) Create(ctx context.Context, t herald.EventType) (*herald.EventType, error) {
	var out herald.EventType
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("event-types"), body: t}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
