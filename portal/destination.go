package portal

import "github.com/heraldhq/herald"

// destinationLabel names what a webhook URL delivers to, for the list and detail pages.
func destinationLabel(rawURL string) string {
	switch herald.DestinationOf(rawURL) {
	case herald.DestinationHTTP:
		return "HTTP"
	case herald.DestinationNATS:
		return "NATS"
	case herald.DestinationAMQP:
		return "AMQP"
	case herald.DestinationRedis:
		return "Redis stream"
	case herald.DestinationKafka:
		return "Kafka"
	}
	return "unknown"
}
