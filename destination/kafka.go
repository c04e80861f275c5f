package destination

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// kafkaConn is a franz-go client for one cluster, found from its seed broker.
type kafkaConn struct{ c *kgo.Client }

func openKafka(ctx context.Context, t *target, dial DialFunc) (conn, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(t.addr),
		kgo.Dialer(dial),
		kgo.ClientID("herald"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A message is produced when the attempt asks: no lingering for a batch.
		kgo.ProducerLinger(0),
		// Retries are the dispatcher's, on its schedule; the client tries an
		// unknown topic a few times only, so the attempt fails with the reason.
		kgo.UnknownTopicRetries(2),
	}
	if t.user != "" {
		opts = append(opts, kgo.SASL(plain.Auth{User: t.user, Pass: t.password}.AsMechanism()))
	}
	c, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return &kafkaConn{c: c}, nil
}

func (k *kafkaConn) publish(ctx context.Context, t *target, m *Message) (Ack, error) {
	rec := &kgo.Record{Topic: t.path, Value: m.Body}
	for name, v := range messageHeaders(m.Header) {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: name, Value: []byte(v)})
	}
	res := k.c.ProduceSync(ctx, rec)
	r, err := res.First()
	if err != nil {
		return nil, fmt.Errorf("kafka produce to topic %s: %w", t.path, err)
	}
	return Ack{"broker": "kafka", "topic": r.Topic, "partition": r.Partition, "offset": r.Offset}, nil
}

func (k *kafkaConn) broken() bool { return false } // franz-go reconnects by itself

func (k *kafkaConn) close() error {
	k.c.Close()
	return nil
}
