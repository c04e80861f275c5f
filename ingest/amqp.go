package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// runAMQP reads the source's queue until ctx ends, connecting again with backoff after
// every failure. Messages in hand when a connection is lost are requeued by the broker.
func (r *reader) runAMQP(ctx context.Context) error {
	b := r.newBackoff()
	first := true
	for {
		if !first {
			r.reconnects.Inc()
		}
		first = false
		err := r.amqpSession(ctx, b)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("ingest: AMQP connection or channel failed; connecting again", "error", err)
		if b.wait(ctx) != nil {
			return nil
		}
	}
}

// amqpSession connects, consumes the queue, and handles its messages until an error. The
// channel is transactional, so a dead letter and the acknowledgement of its message
// commit together, and each acknowledgement is known to have arrived.
func (r *reader) amqpSession(ctx context.Context, b *backoff) error {
	queue, dead := r.src.Name, r.src.Dead
	conn, err := amqp.DialConfig(r.src.conn.String(), amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": "herald ingest " + queue},
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// Closing the connection requeues whatever was delivered and not acknowledged.
	defer func() { _ = conn.Close() }()
	if err := amqpEnsureQueue(conn, dead); err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	prefetch, _ := r.src.number("prefetch", 100) // checked by ParseSource
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	if err := ch.Tx(); err != nil {
		return fmt.Errorf("make the channel transactional: %w", err)
	}
	tag := r.src.Params.Get("consumer_tag")
	deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume queue %q (it must exist): %w", queue, err)
	}
	r.log.Info("ingest: consuming an AMQP queue", "queue", queue)
	b.reset()
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok = <-deliveries:
		}
		if !ok {
			return errors.New("the broker ended the deliveries (connection or channel closed)")
		}
		if d.Redelivered {
			r.redelivered.Inc()
		}
		key := ""
		if d.MessageId != "" {
			key = "amqp:" + queue + ":" + d.MessageId
		}
		dl, err := r.publish(ctx, d.Body, key, nil)
		if err != nil {
			return err
		}
		if dl != nil {
			h := amqp.Table{}
			for k, v := range d.Headers {
				h[k] = v
			}
			h[HeaderDeadReason] = dl.Reason
			h[HeaderDeadCode] = dl.Code
			h["Herald-Dead-Queue"] = queue
			err := ch.PublishWithContext(ctx, "", dead, false, false, amqp.Publishing{
				Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
				DeliveryMode: amqp.Persistent, CorrelationId: d.CorrelationId, MessageId: d.MessageId,
				Timestamp: d.Timestamp, Type: d.Type, AppId: d.AppId, Body: d.Body,
			})
			if err != nil {
				return fmt.Errorf("publish a dead letter to %q: %w", dead, err)
			}
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
		if err := ch.TxCommit(); err != nil {
			return fmt.Errorf("commit the acknowledgement: %w", err)
		}
		if dl != nil {
			r.dead.Inc()
		}
	}
}

// amqpEnsureQueue declares the durable queue name unless it exists, as it is: a queue
// the operator declared with arguments of its own is used, not redeclared.
func amqpEnsureQueue(conn *amqp.Connection, name string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err == nil {
		return ch.Close()
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
		return fmt.Errorf("check dead-letter queue %q: %w", name, err)
	}
	// The failed check closed the channel.
	if ch, err = conn.Channel(); err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare dead-letter queue %q: %w", name, err)
	}
	return ch.Close()
}
