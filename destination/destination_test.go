package destination_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/destination"
	"github.com/heraldhq/herald/destination/destinationtest"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/webhook"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signed returns a standard-format message as Herald's dispatcher builds it.
func signed(t testing.TB) *destination.Message {
	t.Helper()
	body := []byte(`{"type":"ping","timestamp":"2026-01-02T03:04:05Z","data":{"n":1}}`)
	h, err := webhook.Sign(webhook.FormatStandard, testSecret, "evt_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	h.Set("Content-Type", "application/json")
	return &destination.Message{ID: destinationtest.UniqueName("del_"), Body: body, Header: h}
}

func newPublisher(t testing.TB) *destination.Publisher {
	t.Helper()
	p := destination.New((&egress.Guard{AllowPrivate: true}).DialContext)
	t.Cleanup(func() { p.Close() })
	return p
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestNATSJetStream(t *testing.T) {
	base := destinationtest.BrokerURL(t, "HERALD_TEST_NATS_URL")
	_, js := destinationtest.NATS(t, base)
	subject := destinationtest.UniqueName("herald.test.")
	stream, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: strings.ReplaceAll(subject, ".", "_"), Subjects: []string{subject}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), stream.CachedInfo().Config.Name) })

	p := newPublisher(t)
	m := signed(t)
	m.URL = "nats://" + base.Host + "/" + subject
	ack, err := p.Publish(ctx(t), m)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack["stream"] != stream.CachedInfo().Config.Name || ack["sequence"] != uint64(1) {
		t.Errorf("ack = %v, want stream %s sequence 1", ack, stream.CachedInfo().Config.Name)
	}
	// The same delivery again (a retry whose ack was lost) is a duplicate, not a second message.
	again, err := p.Publish(ctx(t), m)
	if err != nil || again["duplicate"] != true {
		t.Errorf("republish of the same delivery = %v, %v; want a duplicate ack", again, err)
	}

	got, err := stream.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Verify(t, testSecret, destinationtest.NATSHeaders(got.Header), got.Data)
	if got.Header.Get("Nats-Msg-Id") != m.ID {
		t.Errorf("Nats-Msg-Id = %q, want the delivery id %q", got.Header.Get("Nats-Msg-Id"), m.ID)
	}
	if p.Len() != 1 {
		t.Errorf("pool holds %d connections, want 1", p.Len())
	}

	// A subject no stream captures is a failure that says so.
	m.URL = "nats://" + base.Host + "/" + destinationtest.UniqueName("herald.nostream.")
	_, err = p.Publish(ctx(t), m)
	if err == nil || !strings.Contains(err.Error(), "no JetStream stream captures subject") {
		t.Errorf("publish to a subject without a stream: %v, want the no-stream error", err)
	}
	if p.Len() != 1 {
		t.Errorf("pool holds %d connections after a second subject on the same server, want 1", p.Len())
	}
}

func TestNATSCore(t *testing.T) {
	base := destinationtest.BrokerURL(t, "HERALD_TEST_NATS_URL")
	nc, _ := destinationtest.NATS(t, base)
	subject := destinationtest.UniqueName("herald.core.")
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t)
	m := signed(t)
	m.URL = "nats://" + base.Host + "/" + subject + "?core=true"
	ack, err := p.Publish(ctx(t), m)
	if err != nil || ack["core"] != true {
		t.Fatalf("core publish = %v, %v", ack, err)
	}
	got, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Verify(t, testSecret, destinationtest.NATSHeaders(got.Header), got.Data)
}

func TestAMQP(t *testing.T) {
	base := destinationtest.BrokerURL(t, "HERALD_TEST_AMQP_URL")
	ch, queue := destinationtest.AMQPQueue(t, base, "herald-test-")

	p := newPublisher(t)
	m := signed(t)
	m.URL = base.String() + "?routing_key=" + queue
	ack, err := p.Publish(ctx(t), m)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if tag, _ := ack["delivery_tag"].(uint64); tag < 1 {
		t.Errorf("ack = %v, want a delivery_tag", ack)
	}
	var got amqp.Delivery
	var ok bool
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); {
		if got, ok, err = ch.Get(queue, true); err != nil {
			t.Fatal(err)
		}
	}
	if !ok {
		t.Fatal("the message never reached the queue")
	}
	if got.DeliveryMode != amqp.Persistent || got.CorrelationId != m.ID {
		t.Errorf("delivery mode %d, correlation id %q; want persistent and %q", got.DeliveryMode, got.CorrelationId, m.ID)
	}
	destinationtest.Verify(t, testSecret, destinationtest.AMQPHeaders(got.Headers), got.Body)

	// Nothing bound to receive it: the broker returns it, and the attempt fails.
	m.URL = base.String() + "?routing_key=" + destinationtest.UniqueName("no-such-queue-")
	if _, err := p.Publish(ctx(t), m); err == nil || !strings.Contains(err.Error(), "unroutable") {
		t.Errorf("publish with no queue bound: %v, want unroutable", err)
	}
	// An exchange that does not exist closes the channel; the error says why, and the
	// next message goes out on a new channel.
	m.URL = base.String() + "?exchange=" + destinationtest.UniqueName("no-such-exchange-")
	if _, err := p.Publish(ctx(t), m); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Errorf("publish to a missing exchange: %v, want NOT_FOUND", err)
	}
	m.URL = base.String() + "?routing_key=" + queue
	if _, err := p.Publish(ctx(t), m); err != nil {
		t.Errorf("publish after a channel error: %v", err)
	}
}

func TestRedis(t *testing.T) {
	base := destinationtest.BrokerURL(t, "HERALD_TEST_REDIS_URL")
	rc, stream := destinationtest.RedisStream(t, base, "herald-test-")

	p := newPublisher(t)
	m := signed(t)
	m.URL = base.String() + "?stream=" + stream + "&maxlen=5"
	// maxlen trims approximately: whole nodes of the stream, up to 100 entries each by
	// Redis's default, so only well over a node's worth of entries must show the trim.
	const published = 300
	var last string
	for range published {
		ack, err := p.Publish(ctx(t), m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		last, _ = ack["id"].(string)
	}
	entries, err := rc.XRange(ctx(t), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	lastID := ""
	if len(entries) > 0 {
		lastID = entries[len(entries)-1].ID
	}
	if len(entries) < 5 || len(entries) > published/2 || lastID != last {
		t.Fatalf("%d entries of %d published, last %q; want maxlen to trim and the last id to be the ack's %s",
			len(entries), published, lastID, last)
	}
	headers, body := destinationtest.RedisEntry(entries[len(entries)-1].Values)
	destinationtest.Verify(t, testSecret, headers, body)
}

func TestKafka(t *testing.T) {
	t.Parallel()
	topic := "orders"
	addr := destinationtest.Kafka(t, topic)

	p := newPublisher(t)
	m := signed(t)
	m.URL = "kafka://" + addr + "/" + topic
	for want := int64(0); want < 2; want++ {
		ack, err := p.Publish(ctx(t), m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if ack["offset"] != want || ack["partition"] != int32(0) {
			t.Errorf("ack = %v, want partition 0 offset %d", ack, want)
		}
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	fetches := consumer.PollRecords(ctx(t), 1)
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	rec := fetches.Records()[0]
	destinationtest.Verify(t, testSecret, destinationtest.KafkaHeaders(rec.Headers), rec.Value)

	m.URL = "kafka://" + addr + "/no-such-topic"
	if _, err := p.Publish(ctx(t), m); err == nil || !strings.Contains(err.Error(), "UNKNOWN_TOPIC") {
		t.Errorf("publish to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestEgressGuard checks that broker hosts are dialled through the SSRF guard: a
// loopback broker is refused unless private networks are allowed.
func TestEgressGuard(t *testing.T) {
	t.Parallel()
	addr := destinationtest.Kafka(t, "t")
	p := destination.New((&egress.Guard{}).DialContext)
	t.Cleanup(func() { p.Close() })
	m := signed(t)
	for _, u := range []string{
		"kafka://" + addr + "/t",
		"nats://127.0.0.1:4222/x",
		"amqp://guest:guest@127.0.0.1:5672/?routing_key=q",
		"redis://127.0.0.1:6379/0?stream=s",
	} {
		m.URL = u
		_, err := p.Publish(ctx(t), m)
		if err == nil || !strings.Contains(err.Error(), "egress policy") {
			t.Errorf("publish to %s through a public-only guard: %v, want refused by egress policy", herald.RedactURL(u), err)
		}
		if err != nil && strings.Contains(err.Error(), "guest:guest") {
			t.Errorf("error repeats the URL's credentials: %v", err)
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	addr := destinationtest.Kafka(t, "t")
	p := destination.New(nil)
	m := signed(t)
	m.URL = "kafka://" + addr + "/t"
	if _, err := p.Publish(ctx(t), m); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Fatalf("pool holds %d connections, want 1", p.Len())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 {
		t.Errorf("pool holds %d connections after Close, want 0", p.Len())
	}
	if _, err := p.Publish(ctx(t), m); err == nil {
		t.Error("Publish after Close succeeded")
	}
}

func TestInvalidURL(t *testing.T) {
	t.Parallel()
	p := destination.New(nil)
	m := signed(t)
	m.URL = "nats://127.0.0.1:4222"
	_, err := p.Publish(ctx(t), m)
	var herr *herald.Error
	if !errors.As(err, &herr) || herr.Code != herald.EINVALID {
		t.Errorf("publish to a nats url without subject: %v, want EINVALID", err)
	}
}

// TestExamples runs the examples that need a broker on this machine, each when its
// variable is set, and checks what they print.
func TestExamples(t *testing.T) {
	for _, ex := range []struct {
		env string
		run func()
	}{
		{"HERALD_TEST_NATS_URL", Example_nats},
		{"HERALD_TEST_AMQP_URL", Example_amqp},
		{"HERALD_TEST_REDIS_URL", Example_redis},
	} {
		t.Run(ex.env, func(t *testing.T) {
			destinationtest.BrokerURL(t, ex.env)
			if got := captureStdout(t, ex.run); got != "verified drift.detected event evt_example\n" {
				t.Errorf("example printed %q, want the verified event", got)
			}
		})
	}
}

// captureStdout returns what fn prints to os.Stdout.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	fn()
	w.Close()
	return <-done
}

// TestConcurrentPublishesShareOneConnection publishes from many goroutines at once to
// one broker: they all succeed over a single pooled connection.
func TestConcurrentPublishesShareOneConnection(t *testing.T) {
	t.Parallel()
	addr := destinationtest.Kafka(t, "a", "b")
	p := newPublisher(t)
	errs := make(chan error, 64)
	for i := range cap(errs) {
		go func() {
			m := signed(t)
			m.URL = "kafka://" + addr + "/" + []string{"a", "b"}[i%2]
			_, err := p.Publish(ctx(t), m)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if p.Len() != 1 {
		t.Errorf("pool holds %d connections after concurrent publishes to one broker, want 1", p.Len())
	}
}
