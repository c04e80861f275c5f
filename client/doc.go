// Package client is the Go client of Herald's REST API, for producers: the backend that
// registers its customers' webhooks and publishes events.
//
//	c, err := client.New("https://herald.example.com", os.Getenv("HERALD_API_KEY"))
//	wh, err := c.Webhooks.Create(ctx, client.WebhookCreate{Name: "billing", URL: "https://example.com/hooks"})
//	res, err := c.Events.Publish(ctx, client.Event{Type: "drift.resolved", Data: resolved})
//
// A Client has one service per resource: Webhooks, Events (single and batch),
// Deliveries, EventTypes and Tenants (with portal links). Every call takes a context and
// answers with typed values; the root package's types (herald.Delivery,
// herald.EventType …) are reused where they are the API's JSON.
//
// # Errors
//
// An error answer is a *StatusError wrapping the *herald.Error the server answered with:
// errors.As(err, &herr) gives its Code (herald.ENOTFOUND, herald.EINVALID …), Message
// and Details, and herald.ErrorCode(err) its code alone. Transport failures are returned
// wrapped, with the method, path and server.
//
// # Retries
//
// A call is retried (DefaultMaxRetries times, with backoff) only where that is safe:
//   - after 429 or 503, which the server answers before acting, waiting the Retry-After
//     it asks for (up to WithMaxRetryWait);
//   - after a connection that could not be made, which never reached the server;
//   - after any other transport failure, only for calls that are idempotent: reads,
//     updates, deletes, and Publish, which sends one Idempotency-Key per call on every
//     try so that the server publishes the event at most once.
//
// Creating a webhook or a tenant, a test, a delivery's retry and a rotation are never
// sent twice once they may have reached the server.
//
// # Receiving
//
// The receiving side, verifying that a request came from Herald in each format, is
// package github.com/heraldhq/herald/webhook, which imports only the standard library.
package client
