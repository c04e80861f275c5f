package dispatch

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// Brokers publishes deliveries to message brokers; *destination.Publisher is one.
type Brokers interface {
	// PublishJSON publishes body with header to the broker rawURL names, with id (the
	// delivery's) as the message id where the broker has one, and returns the broker's
	// acknowledgement as JSON. Its error is a line for the delivery log.
	PublishJSON(ctx context.Context, rawURL, id string, body []byte, header http.Header) (ack string, err error)
}

// publish is send's transport for a webhook whose URL names a broker: it fills a as an
// HTTP request fills it, with the broker's acknowledgement as the response body. There
// is no status code: the attempt succeeds when the broker acknowledged the message.
func (d *Dispatcher) publish(ctx context.Context, c *herald.Claim, a *herald.Attempt, msg *wire.Request, timeout time.Duration) {
	a.RequestHeaders = msg.Header.Clone()
	if d.cfg.Brokers == nil {
		a.Error = "this Herald cannot deliver to " + string(herald.DestinationOf(c.Webhook.URL)) + " destinations: no broker publisher is configured"
		return
	}
	start := time.Now()
	ack, err := d.cfg.Brokers.PublishJSON(ctx, c.Webhook.URL, c.Delivery.ID, msg.Body, msg.Header)
	a.DurationMS = time.Since(start).Milliseconds()
	switch {
	case err != nil && ctx.Err() != nil:
		a.Error = describe(ctx, err, timeout)
	case err != nil:
		a.Error = clip(err.Error())
	default:
		a.Success = true
		a.ResponseBody = ack
	}
}
