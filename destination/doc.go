// Package destination delivers webhooks to message brokers: NATS (JetStream, or core
// NATS with ?core=true), RabbitMQ and other AMQP 0-9-1 brokers, Redis streams and
// Kafka. The dispatcher hands it what it would POST to an HTTP endpoint (the format's
// envelope and its signature headers) and gets back the broker's acknowledgement.
//
// A Publisher keeps one connection per broker and credentials (not per webhook: two
// webhooks publishing to subjects of one NATS server share it), opens it on first use,
// drops it when it breaks so the next attempt connects again, closes it after
// IdleTimeout unused, and closes them all on Close. Every connection is dialled by the
// Dial function it is given, which in Herald is the egress guard's, so broker hosts obey
// the same SSRF policy as HTTP endpoints.
//
// A delivery succeeds only once the broker has taken responsibility for the message:
//   - nats: the JetStream stream's ack (stream and sequence). A subject no stream
//     captures fails. With ?core=true the message is flushed to the server, which
//     gives no durability.
//   - amqp: the publisher confirm (delivery tag); messages are persistent and
//     mandatory, so one no queue is bound to receive fails rather than vanishing.
//   - redis: XADD's entry id.
//   - kafka: the produce response of all in-sync replicas (partition and offset).
//
// Headers become message headers with lower-case names (Redis: stream fields beside
// "body"), so receivers verify a message as they verify a request, with
// webhook.Verifier.VerifyMessage. Where the broker has a message id (JetStream's
// Nats-Msg-Id, AMQP's message-id) it is the delivery's id, which stays the same across
// retries: JetStream drops a retry of a message it already stored within its
// duplicate window.
//
// Error texts never contain the URL or its password.
package destination
