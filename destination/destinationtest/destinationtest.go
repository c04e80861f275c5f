// Package destinationtest holds what tests of delivery to message brokers share: the
// brokers of the test environment and a client of each, names on them no other run
// uses, an in-process Kafka, and reading a consumed message back into the headers and body a consumer
// verifies. Only tests import it.
package destinationtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/webhook"
)

// BrokerURL returns the broker URL in the environment variable name, skipping the test
// when it is unset.
func BrokerURL(t testing.TB, name string) *url.URL {
	t.Helper()
	raw := os.Getenv(name)
	if raw == "" {
		t.Skipf("%s is not set: set it to a broker on loopback to run this test (.ci/run does)", name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

// UniqueName returns prefix followed by 12 random hex digits: a subject, queue or
// stream no other test run uses on a shared broker.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b) // never fails: crypto/rand panics rather than return an error
	return prefix + hex.EncodeToString(b)
}

// NATS connects to the NATS server at base, with JetStream, for as long as the test
// runs.
func NATS(t testing.TB, base *url.URL) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(base.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// AMQPQueue connects to the AMQP broker at base and declares a queue named from prefix
// that no other run uses, deleted with the connection when the test ends. It returns
// the channel to consume the queue on, and the queue's name.
func AMQPQueue(t testing.TB, base *url.URL, prefix string) (*amqp.Channel, string) {
	t.Helper()
	c, err := amqp.Dial(base.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	queue := UniqueName(prefix)
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return ch, queue
}

// RedisStream connects to the Redis at base and names a stream from prefix that no
// other run uses, deleted when the test ends. It returns the client and the stream's
// name.
func RedisStream(t testing.TB, base *url.URL, prefix string) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(base.String())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	stream := UniqueName(prefix)
	t.Cleanup(func() {
		rc.Del(context.Background(), stream) // best effort: a leftover stream only takes space
		rc.Close()
	})
	return rc, stream
}

// Kafka starts an in-process Kafka broker (franz-go's kfake) holding topics, one
// partition each, stopped when the test ends, and returns its address.
func Kafka(t testing.TB, topics ...string) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()[0]
}

// Verify checks a consumed message with package webhook, as a consumer would, against
// the standard-format secret it was signed with, and checks that every header name is
// lower-case, as the brokers' consumers are promised.
func Verify(t testing.TB, secret string, headers map[string]string, body []byte) {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyMessage(headers, body); err != nil {
		t.Fatalf("consumed message does not verify: %v (headers %v)", err, headers)
	}
	for k := range headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower-case", k)
		}
	}
}

// NATSHeaders returns a NATS message's headers as a consumer reads them: the first
// value of each, without Nats-Msg-Id, which is JetStream's and not Herald's.
func NATSHeaders(h nats.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		if k != nats.MsgIdHdr {
			out[k] = vs[0]
		}
	}
	return out
}

// AMQPHeaders returns an AMQP message's headers as a consumer reads them; a header that
// is not a string reads as "", so it fails verification.
func AMQPHeaders(table amqp.Table) map[string]string {
	out := map[string]string{}
	for k, v := range table {
		out[k], _ = v.(string)
	}
	return out
}

// RedisEntry returns a Redis stream entry's fields as a consumer reads them: the field
// body is the body, every other field a header. A field that is not a string reads as
// "", so it fails verification.
func RedisEntry(fields map[string]any) (headers map[string]string, body []byte) {
	headers = map[string]string{}
	for k, v := range fields {
		s, _ := v.(string)
		if k == "body" {
			body = []byte(s)
			continue
		}
		headers[k] = s
	}
	return headers, body
}

// KafkaHeaders returns a Kafka record's headers as a consumer reads them.
func KafkaHeaders(hs []kgo.RecordHeader) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[h.Key] = string(h.Value)
	}
	return out
}
