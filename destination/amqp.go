package destination

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// returnsBuffer is how many returned (unroutable) messages a channel buffers between
// being returned and their publisher reading the return. Returns arrive before their
// confirm, and every publisher drains the buffer once confirmed, so it holds at most
// the publishes in flight on the channel.
const returnsBuffer = 4096

// amqpConn is one AMQP connection with one channel in confirm mode, opened again when
// the broker closes it (a channel error such as an unknown exchange closes the channel,
// not the connection).
type amqpConn struct {
	conn *amqp.Connection

	mu       sync.Mutex
	ch       *amqp.Channel
	returns  chan amqp.Return
	closes   chan *amqp.Error
	returned map[string]amqp.Return // by message id, drained from returns
}

func openAMQP(ctx context.Context, t *target, dial DialFunc) (conn, error) {
	u := *t.u
	u.RawQuery = "" // exchange and routing_key are Herald's; the library has its own parameters
	deadline, _ := ctx.Deadline()
	cfg := amqp.Config{
		Properties: amqp.Table{"connection_name": "herald"},
		Heartbeat:  10 * time.Second,
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			c, err := dial(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake must not hang on a server that accepts and says nothing.
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	c, err := amqp.DialConfig(u.String(), cfg)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, err
	}
	a := &amqpConn{conn: c, returned: map[string]amqp.Return{}}
	if err := a.openChannel(); err != nil {
		c.Close()
		return nil, err
	}
	return a, nil
}

// openChannel opens a.ch in confirm mode. a.mu is held, or a is not shared yet.
func (a *amqpConn) openChannel() error {
	ch, err := a.conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return err
	}
	a.ch = ch
	a.returns = ch.NotifyReturn(make(chan amqp.Return, returnsBuffer))
	a.closes = ch.NotifyClose(make(chan *amqp.Error, 1))
	return nil
}

// channel returns the open channel, opening a new one when the broker closed the last.
func (a *amqpConn) channel() (*amqp.Channel, chan *amqp.Error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch.IsClosed() {
		if err := a.openChannel(); err != nil {
			return nil, nil, err
		}
	}
	return a.ch, a.closes, nil
}

// wasReturned reports whether the broker returned the message with id as unroutable,
// draining returns into a.returned first.
func (a *amqpConn) wasReturned(returns chan amqp.Return, id string) (amqp.Return, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
drain:
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				break drain
			}
			a.returned[r.MessageId] = r
		default:
			break drain
		}
	}
	r, ok := a.returned[id]
	delete(a.returned, id)
	return r, ok
}

func (a *amqpConn) publish(ctx context.Context, t *target, m *Message) (Ack, error) {
	ch, closes, err := a.channel()
	if err != nil {
		return nil, fmt.Errorf("amqp open channel: %w", err)
	}
	a.mu.Lock()
	returns := a.returns
	a.mu.Unlock()
	headers := amqp.Table{}
	for k, v := range messageHeaders(m.Header) {
		headers[k] = v
	}
	// Each attempt has its own message id for telling its return apart; the delivery's
	// id travels as correlation id, the same across retries.
	msgID := m.ID + "." + fmt.Sprint(time.Now().UnixNano())
	exchange, key := t.query.Get("exchange"), t.query.Get("routing_key")
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, amqp.Publishing{
		Headers:       headers,
		ContentType:   m.Header.Get("Content-Type"),
		DeliveryMode:  amqp.Persistent,
		MessageId:     msgID,
		CorrelationId: m.ID,
		Timestamp:     time.Now(),
		AppId:         "herald",
		Body:          m.Body,
	})
	if err != nil {
		return nil, fmt.Errorf("amqp publish: %w", err)
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return nil, err
	}
	if r, ok := a.wasReturned(returns, msgID); ok {
		return nil, fmt.Errorf("amqp broker returned the message as unroutable (%d %s): no queue is bound to exchange %q with routing key %q", r.ReplyCode, r.ReplyText, exchange, key)
	}
	if !acked {
		select {
		case cerr := <-closes:
			if cerr != nil {
				return nil, fmt.Errorf("amqp broker refused the message: %s", cerr.Reason)
			}
		default:
		}
		return nil, errors.New("amqp broker refused the message (negative publisher confirm)")
	}
	return Ack{"broker": "amqp", "exchange": exchange, "routing_key": key, "delivery_tag": dc.DeliveryTag}, nil
}

func (a *amqpConn) broken() bool { return a.conn.IsClosed() }

func (a *amqpConn) close() error { return a.conn.Close() }
