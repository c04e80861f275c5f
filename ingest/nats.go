package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsPull is how many messages one fetch from a JetStream consumer asks for. Their ack
// wait runs from delivery, so it stays small beside what one ack wait can publish.
const natsPull = 50

// natsFetchWait is how long one fetch waits for messages.
const natsFetchWait = 5 * time.Second

// runNATS reads the source's subject until ctx ends: from a durable JetStream consumer
// when a stream captures the subject, else as a core NATS queue subscriber.
func (r *reader) runNATS(ctx context.Context) error {
	b := r.newBackoff()
	nc, err := nats.Connect(r.src.conn.String(),
		nats.Name("herald ingest "+r.src.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(int) time.Duration { return b.delay() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				r.log.Warn("ingest: NATS connection lost; reconnecting", "error", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			r.log.Warn("ingest: NATS reported an error", "error", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.reset()
			r.reconnects.Inc()
			r.log.Info("ingest: NATS connection made again")
		}),
	)
	if err != nil {
		return fmt.Errorf("ingest %s: %w", r.src, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("ingest %s: %w", r.src, err)
	}
	sb := r.newBackoff()
	for {
		err := r.natsSession(ctx, nc, js, sb)
		if ctx.Err() != nil {
			return nil
		}
		r.reconnects.Inc()
		r.log.Warn("ingest: NATS consumer failed; starting it again", "error", err)
		if sb.wait(ctx) != nil {
			return nil
		}
	}
}

// natsSession finds how the subject is served and reads it until an error.
func (r *reader) natsSession(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, b *backoff) error {
	subject := r.src.Name
	lookup := func(subject string) (string, bool, error) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		name, err := js.StreamNameBySubject(lctx, subject)
		switch {
		case err == nil:
			return name, true, nil
		case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
			return "", false, nil
		}
		return "", false, fmt.Errorf("find the stream of %q: %w", subject, err)
	}
	streamName, durable, err := lookup(subject)
	if err != nil {
		return err
	}
	_, deadDurable, err := lookup(r.src.Dead)
	if err != nil {
		return err
	}
	if !deadDurable {
		r.log.Warn("ingest: no JetStream stream captures the dead-letter subject, so dead letters are published on core NATS and kept by no one unless a subscriber is listening; create a stream for it", "dead_letters", r.src.Dead)
	}
	// deadLetter publishes a dead letter and reports whether it is new: a JetStream
	// stream drops one it already has.
	deadLetter := func(m *nats.Msg, key string) (bool, error) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if deadDurable {
			var opts []jetstream.PublishOpt
			if key != "" {
				// A dead letter published again for the same message (its ack was lost)
				// is dropped by the stream within its duplicate window.
				opts = append(opts, jetstream.WithMsgID(key))
			}
			ack, err := js.PublishMsg(pctx, m, opts...)
			return err == nil && !ack.Duplicate, err
		}
		if err := nc.PublishMsg(m); err != nil {
			return false, err
		}
		return true, nc.FlushWithContext(pctx)
	}

	if !durable {
		return r.natsCore(ctx, nc, deadLetter, b)
	}
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("stream %q: %w", streamName, err)
	}
	created := st.CachedInfo().Created
	ackWait, _ := r.src.duration("ack_wait", 30*time.Second) // checked by ParseSource
	name := r.src.Params.Get("durable")
	if name == "" {
		name = "herald-" + strings.NewReplacer(".", "_", "*", "any", ">", "all").Replace(subject)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Herald ingest of " + subject,
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("durable consumer %q on stream %q: %w", name, streamName, err)
	}
	r.log.Info("ingest: reading a JetStream durable consumer", "stream", streamName, "consumer", name)
	b.reset()
	// Fetches rather than a continuous pull: each has its own inbox, so a pull request
	// the server still holds from a lost connection cannot overfill the next one.
	for {
		fctx, cancel := context.WithTimeout(ctx, natsFetchWait)
		batch, err := cons.Fetch(natsPull, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("fetch from %q: %w", name, err)
		}
		for msg := range batch.Messages() {
			if err := r.natsHandle(ctx, msg, streamName, created, deadLetter); err != nil {
				cancel()
				return err
			}
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fetch from %q: %w", name, err)
		}
	}
}

// natsHandle publishes one JetStream message, or dead-letters it, and acknowledges it.
func (r *reader) natsHandle(ctx context.Context, msg jetstream.Msg, streamName string, created time.Time, deadLetter func(*nats.Msg, string) (bool, error)) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	if meta.NumDelivered > 1 {
		r.redelivered.Inc()
	}
	// The stream's creation time tells a stream made again under the same name,
	// whose sequences start over, from the one before.
	key := fmt.Sprintf("nats:%s:%d:%d", streamName, created.UnixNano(), meta.Sequence.Stream)
	dl, err := r.publish(ctx, msg.Data(), key, func() { _ = msg.InProgress() }) // a lost InProgress only risks a redelivery
	if err != nil {
		return err
	}
	if dl != nil {
		added, err := deadLetter(natsDeadLetter(r.src.Dead, msg.Subject(), msg.Headers(), msg.Data(), dl), key)
		if err != nil {
			return fmt.Errorf("publish a dead letter to %q: %w", r.src.Dead, err)
		}
		if added {
			r.dead.Inc()
		}
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = msg.DoubleAck(actx)
	cancel()
	if err != nil && ctx.Err() == nil {
		// The event is committed; the broker delivers the message again after the
		// ack wait, and its key makes that a repeat.
		r.log.Warn("ingest: acknowledgement not confirmed; the message will come again and be recognised", "error", err)
	}
	return nil
}

// natsCore reads the subject as a member of a core NATS queue group: nothing is
// redelivered, so what arrives while no member is connected is lost, as on core NATS.
func (r *reader) natsCore(ctx context.Context, nc *nats.Conn, deadLetter func(*nats.Msg, string) (bool, error), b *backoff) error {
	group := r.src.Params.Get("queue_group")
	if group == "" {
		group = "herald"
	}
	sub, err := nc.QueueSubscribeSync(r.src.Name, group)
	if err != nil {
		return fmt.Errorf("subscribe to %q: %w", r.src.Name, err)
	}
	defer func() { _ = sub.Unsubscribe() }() // the connection closes after anyway
	r.log.Warn("ingest: no JetStream stream captures the subject, so it is read on core NATS: messages sent while Herald is not connected are lost", "subject", r.src.Name, "queue_group", group)
	b.reset()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		key := ""
		if id := msg.Header.Get(jetstream.MsgIDHeader); id != "" {
			key = "nats:" + r.src.Name + ":" + id
		}
		dl, err := r.publish(ctx, msg.Data, key, nil)
		if err != nil {
			return err
		}
		if dl == nil {
			continue
		}
		if _, err := deadLetter(natsDeadLetter(r.src.Dead, msg.Subject, msg.Header, msg.Data, dl), key); err != nil {
			return fmt.Errorf("publish a dead letter to %q: %w", r.src.Dead, err)
		}
		r.dead.Inc()
	}
}

// natsDeadLetter is the dead letter of a message: its body and headers, with why.
func natsDeadLetter(subject, from string, h nats.Header, data []byte, dl *deadLetter) *nats.Msg {
	m := nats.NewMsg(subject)
	for k, vs := range h {
		if k == jetstream.MsgIDHeader {
			continue // the dead letter's own is set by the publish
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	m.Header.Set(HeaderDeadReason, dl.Reason)
	m.Header.Set(HeaderDeadCode, dl.Code)
	m.Header.Set("Herald-Dead-Subject", from)
	m.Data = data
	return m
}
