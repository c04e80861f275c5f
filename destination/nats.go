package destination

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsConn is one NATS connection with its JetStream context.
type natsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// natsDialer makes nats.go dial through a DialFunc; nats.go's CustomDialer takes no
// context, so each dial gets connectTimeout.
type natsDialer struct{ dial DialFunc }

func (d natsDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return d.dial(ctx, network, addr)
}

func openNATS(ctx context.Context, t *target, dial DialFunc) (conn, error) {
	opts := []nats.Option{
		nats.Name("herald"),
		nats.SetCustomDialer(natsDialer{dial}),
		nats.Timeout(connectTimeout),
		// Reconnecting forever keeps the connection across a server restart; an
		// attempt made meanwhile fails on its own timeout and is retried.
		nats.MaxReconnects(-1),
		nats.ReconnectBufSize(-1), // no buffering while disconnected: fail, and retry later
		// Connection events have no owner to tell: the attempt that fails says it.
		nats.NoCallbacksAfterClientClose(),
	}
	switch {
	case t.user == "" && t.password != "":
		opts = append(opts, nats.Token(t.password))
	case t.user != "":
		opts = append(opts, nats.UserInfo(t.user, t.password))
	}
	nc, err := nats.Connect("nats://"+t.addr, opts...)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsConn{nc: nc, js: js}, nil
}

func (c *natsConn) publish(ctx context.Context, t *target, m *Message) (Ack, error) {
	msg := nats.NewMsg(t.path)
	msg.Data = m.Body
	for k, v := range messageHeaders(m.Header) {
		msg.Header.Set(k, v)
	}
	if t.query.Get("core") == "true" {
		if err := c.nc.PublishMsg(msg); err != nil {
			return nil, fmt.Errorf("nats publish to %s: %w", t.path, err)
		}
		// A flush round trip proves the server has read the message; core NATS
		// promises no more than that.
		if err := c.nc.FlushWithContext(ctx); err != nil {
			return nil, fmt.Errorf("nats flush after publishing to %s: %w", t.path, err)
		}
		return Ack{"broker": "nats", "subject": t.path, "core": true}, nil
	}
	var opts []jetstream.PublishOpt
	if m.ID != "" {
		opts = append(opts, jetstream.WithMsgID(m.ID))
	}
	ack, err := c.js.PublishMsg(ctx, msg, opts...)
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("no JetStream stream captures subject %s: add the subject to a stream, or publish with ?core=true for plain NATS without durability", t.path)
	case err != nil:
		return nil, fmt.Errorf("jetstream publish to %s: %w", t.path, err)
	}
	return Ack{"broker": "nats", "subject": t.path, "stream": ack.Stream, "sequence": ack.Sequence, "duplicate": ack.Duplicate}, nil
}

func (c *natsConn) broken() bool { return c.nc.IsClosed() }

func (c *natsConn) close() error {
	c.nc.Close()
	return nil
}
