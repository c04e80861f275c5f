package webhook

import "net/http"

// VerifyMessage checks a message Herald published to a broker (NATS, RabbitMQ, Redis
// stream, Kafka) as Verify checks a request: body is the message's body (a Redis
// entry's "body" field) and headers its headers (a Redis entry's other fields), names
// in any case. Herald sends one value per header, which is the shape every broker
// client can give: NATS and Kafka headers, AMQP header tables, Redis fields.
//
// It returns nil, or an error wrapping one of the package's sentinel errors. Brokers
// redeliver: deduplicate as for requests, by the format's dedupe key (Event.ID).
func (v *Verifier) VerifyMessage(headers map[string]string, body []byte) error {
	h := make(http.Header, len(headers))
	for k, val := range headers {
		h.Add(k, val)
	}
	return v.Verify(h, body)
}
