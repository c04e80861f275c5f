package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// readyTimeout bounds the store ping of /readyz, so a stuck database reads as not ready
// rather than hanging the probe.
const readyTimeout = 2 * time.Second

type healthOutput struct {
	Body struct {
		Status  string `json:"status" example:"ok"`
		Version string `json:"version" doc:"Herald's release"`
	}
}

func (s *server) registerOperations(metrics http.Handler) {
	tags := []string{"Operations"}
	register(s, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "Liveness", Description: "200 while the process serves requests.", Tags: tags,
	}, s.healthz)
	register(s, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "Readiness", Description: "200 when the store answers, 503 when it does not.",
		Tags: tags, Errors: []int{503},
	}, s.readyz)

	// /metrics and /openapi.json are not JSON operations: they are served by plain
	// handlers and only described to huma.
	s.mux.Handle("GET /metrics", metrics)
	s.api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "metrics", Method: http.MethodGet, Path: "/metrics",
		Summary: "Prometheus metrics",
		Description: "Needs Authorization: Bearer with the admin key or the metrics token (--metrics-token), " +
			"unless the server runs with --metrics-public.",
		Tags: tags,
		Responses: map[string]*huma.Response{
			"200": {
				Description: "Metrics in the Prometheus text exposition format",
				Content:     map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: huma.TypeString}}},
			},
			"401": {Description: "No admin key or metrics token"},
		},
	})
	s.mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	s.api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "openapi", Method: http.MethodGet, Path: "/openapi.json",
		Summary: "This OpenAPI 3.1 description", Tags: tags,
		Responses: map[string]*huma.Response{"200": {
			Description: "The OpenAPI description",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: huma.TypeObject}}},
		}},
	})
}

func (s *server) healthz(context.Context, *struct{}) (*healthOutput, error) {
	out := &healthOutput{}
	out.Body.Status = "ok"
	out.Body.Version = s.version
	return out, nil
}

func (s *server) readyz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: store unreachable", "error", err)
		return nil, herald.Errorf(herald.EUNAVAILABLE, "the store is unreachable")
	}
	out := &healthOutput{}
	out.Body.Status = "ready"
	out.Body.Version = s.version
	return out, nil
}
