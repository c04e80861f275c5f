// Package ingest publishes events from the message queues producers already run: a NATS
// subject (a JetStream durable consumer when a stream captures it, else core NATS), a
// RabbitMQ queue, or a Redis stream read by a consumer group.
//
// Each message's body is one event as the body of POST /api/v1/events ({"type", "data",
// "id"?, "tenant_id"?, "channels"?, "ordering_key"?, "timestamp"?}) and is published by
// the API's own path (see Publisher), so it is validated, routed, limited and
// deduplicated exactly as the API would.
//
// What it promises:
//   - A message is acknowledged only once its event is committed to the store, so a
//     crash or a lost connection before that makes the broker deliver it again.
//   - Where the broker gives a message a lasting identity (a JetStream stream sequence, a
//     Redis entry ID, an AMQP message_id property), that identity is the event's
//     idempotency key, so a message delivered again within 24 h returns the first event
//     rather than making a second. A message with an "id" is deduplicated by it on every
//     broker. A message with neither, redelivered, is published again.
//   - A message that can never be published (not JSON, not an event, unknown type, data
//     against its schema, over 1 MiB) goes to a dead-letter destination, with the reason
//     in the Herald-Dead-Reason header (field herald-dead-reason on Redis) and the error
//     code in Herald-Dead-Code, and is then acknowledged, so it never blocks the queue.
//     The dead letter and the acknowledgement are one step where the broker allows it
//     (a Redis MULTI, an AMQP transaction, a JetStream publish deduplicated by the
//     message's identity), so a connection lost between them makes no second dead letter.
//   - A failure of the store (as opposed to the message) is retried in place with
//     backoff; the message stays unacknowledged meanwhile and later ones wait behind it.
//   - Broker connections that fail or are lost are made again with capped exponential
//     backoff, for as long as the process runs.
package ingest
