// Package httpapi is Herald's REST API: tenants, events, webhooks,
// deliveries and the event catalog under /api/v1, plus /healthz, /readyz, /metrics and
// /openapi.json.
//
// Operations are registered with huma on a net/http ServeMux, so the OpenAPI 3.1
// description served at /openapi.json is generated from the same types the handlers
// decode and encode. Every failure, including huma's own parse and validation errors and
// unknown routes, is answered with one JSON shape:
//
//	{"error": "human message", "code": "MACHINE_CODE", "details": "…"}
//
// where code is one of the herald error codes and the HTTP status follows from it (see
// herald.ErrorStatus).
//
// Authentication is by API key, sent as "Authorization: Bearer <key>" or "X-API-Key:
// <key>". The admin key may do everything; a tenant key sees only its own tenant's
// webhooks, deliveries and events, cannot publish and cannot manage tenants or event
// types, except to rotate its own key. Another tenant's resources answer 404, never
// 403, so a key cannot learn what exists outside its tenant. The portal's in-process
// calls carry its session instead (herald.WithSession), which no client can send. A
// session begun by a portal link acts as its tenant without a key; it may not rotate the
// key nor mint links, and a read-only one is refused every request but a read.
// /metrics answers only the admin key or Config.MetricsToken unless Config.MetricsPublic.
package httpapi
