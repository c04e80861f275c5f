package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/destination/destinationtest"
)

// brokerDelivery is a delivery as the API shows it, with what the log keeps of each
// attempt.
type brokerDelivery struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempts []struct {
		Success        bool                `json:"success"`
		Error          string              `json:"error"`
		ResponseBody   string              `json:"response_body"`
		RequestHeaders map[string][]string `json:"request_headers"`
	} `json:"attempts"`
}

// brokerWebhook creates a standard webhook for drift.detected at rawURL over the API and
// returns its id and secret, checking that the URL reads back with *** for a password.
func brokerWebhook(t *testing.T, srv *testServer, rawURL string) (id, secret string) {
	t.Helper()
	var wh struct {
		webhookResource
		URL         string `json:"url"`
		Destination string `json:"destination"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "bus", "url": rawURL, "format": "standard", "events": []string{"drift.detected"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook for %s: %d", rawURL, code)
	}
	u, _ := url.Parse(rawURL)
	if _, has := u.User.Password(); has {
		if strings.Contains(wh.URL, ":"+mustPassword(u)+"@") || !strings.Contains(wh.URL, ":***@") {
			t.Errorf("webhook URL reads back as %q, want its password shown as ***", wh.URL)
		}
	}
	if wh.Destination != u.Scheme {
		t.Errorf("destination = %q, want %q", wh.Destination, u.Scheme)
	}
	return wh.ID, wh.Secret
}

func mustPassword(u *url.URL) string { p, _ := u.User.Password(); return p }

// publishDrift publishes one drift.detected event and waits until its delivery to
// webhook id has status want, returning it.
func publishDrift(t *testing.T, srv *testServer, id, want string) brokerDelivery {
	t.Helper()
	if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
		"type": "drift.detected", "data": catalogtest.SeedExamples(t)["drift.detected"],
	}, nil); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	var ds []brokerDelivery
	if !waitUntil(20*time.Second, func() bool {
		ds = nil
		api(t, srv.URL, "GET", "/api/v1/webhooks/"+id+"/deliveries?event_type=drift.detected&status="+want, testAdminKey, nil, &ds)
		return len(ds) == 1
	}) {
		var all []brokerDelivery
		api(t, srv.URL, "GET", "/api/v1/webhooks/"+id+"/deliveries?event_type=drift.detected", testAdminKey, nil, &all)
		t.Fatalf("no %s delivery after 20s: %+v", want, all)
	}
	return ds[0]
}

// ackOf decodes the broker's acknowledgement from the delivery's last attempt.
func ackOf(t *testing.T, d brokerDelivery) map[string]any {
	t.Helper()
	a := d.Attempts[len(d.Attempts)-1]
	var ack map[string]any
	if err := json.Unmarshal([]byte(a.ResponseBody), &ack); err != nil {
		t.Fatalf("last attempt's response body %q is not the broker's ack: %v", a.ResponseBody, err)
	}
	return ack
}

// isDrift reports whether a message body is the drift.detected envelope (the webhook's
// ping comes first).
func isDrift(body []byte) bool { return strings.Contains(string(body), `"drift.detected"`) }

// TestBrokerNATS delivers over the API to a JetStream stream, consumes the message,
// verifies it, and finds the stream's sequence in the delivery log; a subject no stream
// captures fails each attempt with a clear error and is retried, and delivered once a
// stream exists.
func TestBrokerNATS(t *testing.T) {
	t.Parallel()
	base := destinationtest.BrokerURL(t, "HERALD_TEST_NATS_URL")
	srv := startServer(t, t.TempDir(), "--retry-schedule", "50ms,50ms")
	_, js := destinationtest.NATS(t, base)
	ctx := t.Context()
	subject := destinationtest.UniqueName("herald.e2e.")
	streamName := strings.ReplaceAll(subject, ".", "_")

	// No stream yet: every attempt fails, and the retries run out.
	id, secret := brokerWebhook(t, srv, "nats://"+base.Host+"/"+subject)
	d := publishDrift(t, srv, id, "failed")
	if len(d.Attempts) != 3 {
		t.Errorf("failed delivery has %d attempts, want 3 (first and 2 retries)", len(d.Attempts))
	}
	for _, a := range d.Attempts {
		if a.Success || !strings.Contains(a.Error, "no JetStream stream captures subject "+subject) {
			t.Errorf("attempt without a stream: success %v, error %q; want the no-stream error", a.Success, a.Error)
		}
	}

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{subject}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), streamName) })
	d = publishDrift(t, srv, id, "success")
	ack := ackOf(t, d)
	if ack["broker"] != "nats" || ack["stream"] != streamName || ack["sequence"] != float64(1) {
		t.Errorf("ack in the log = %v, want stream %s sequence 1", ack, streamName)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.Verify(t, secret, destinationtest.NATSHeaders(msg.Header), msg.Data)
	if !isDrift(msg.Data) {
		t.Errorf("message 1 of the stream is not the event: %s", msg.Data)
	}
	if msg.Header.Get("Nats-Msg-Id") != d.ID {
		t.Errorf("Nats-Msg-Id = %q, want the delivery id %s", msg.Header.Get("Nats-Msg-Id"), d.ID)
	}
}

// TestBrokerAMQP delivers to a RabbitMQ queue through a URL with a password: the API
// shows *** and an update that sends it back keeps the password.
func TestBrokerAMQP(t *testing.T) {
	t.Parallel()
	base := destinationtest.BrokerURL(t, "HERALD_TEST_AMQP_URL")
	srv := startServer(t, t.TempDir())
	ch, queue := destinationtest.AMQPQueue(t, base, "herald-e2e-")
	if _, has := base.User.Password(); !has {
		t.Fatalf("HERALD_TEST_AMQP_URL %s has no password; the test needs one (guest:guest)", base.Redacted())
	}
	id, secret := brokerWebhook(t, srv, base.String()+"?routing_key="+queue)

	// The URL as read (*** for the password) sent back, with a change elsewhere.
	var got struct {
		URL string `json:"url"`
	}
	api(t, srv.URL, "GET", "/api/v1/webhooks/"+id, testAdminKey, nil, &got)
	if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+id, testAdminKey, map[string]any{"url": got.URL, "name": "bus2"}, nil); code != 200 {
		t.Fatalf("update with the *** URL: %d", code)
	}
	// *** sent to another host is refused: the password stays with its broker.
	elsewhere := strings.Replace(got.URL, "@"+base.Host, "@broker.invalid:5672", 1)
	var e apiError
	if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+id, testAdminKey, map[string]any{"url": elsewhere}, &e); code != 422 || !strings.Contains(e.Error, "same scheme, user and host") {
		t.Errorf("update *** to another host: %d %q, want 422", code, e.Error)
	}

	d := publishDrift(t, srv, id, "success")
	ack := ackOf(t, d)
	if tag, _ := ack["delivery_tag"].(float64); ack["broker"] != "amqp" || tag < 1 {
		t.Errorf("ack in the log = %v, want a delivery_tag", ack)
	}
	// The ping first, then the event: each verifies.
	var m amqp.Delivery
	if !waitUntil(10*time.Second, func() bool {
		got, ok, _ := ch.Get(queue, true)
		if !ok {
			return false
		}
		m = got
		destinationtest.Verify(t, secret, destinationtest.AMQPHeaders(m.Headers), m.Body)
		return isDrift(m.Body)
	}) {
		t.Fatal("the event never reached the queue")
	}
}

// TestBrokerRedis delivers to a Redis stream: body and headers as fields, the entry id
// in the log.
func TestBrokerRedis(t *testing.T) {
	t.Parallel()
	base := destinationtest.BrokerURL(t, "HERALD_TEST_REDIS_URL")
	srv := startServer(t, t.TempDir())
	rc, stream := destinationtest.RedisStream(t, base, "herald-e2e-")
	id, secret := brokerWebhook(t, srv, base.String()+"?stream="+stream+"&maxlen=1000")
	d := publishDrift(t, srv, id, "success")
	ack := ackOf(t, d)
	entries, err := rc.XRange(t.Context(), stream, "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("stream has %d entries (%v), want 2: the ping and the event", len(entries), err)
	}
	last := entries[1]
	if ack["broker"] != "redis" || ack["id"] != last.ID {
		t.Errorf("ack in the log = %v, want entry id %s", ack, last.ID)
	}
	headers, body := destinationtest.RedisEntry(last.Values)
	destinationtest.Verify(t, secret, headers, body)
	if !isDrift(body) {
		t.Errorf("the acked entry is not the event: %s", body)
	}
}

// TestBrokerKafka delivers to a topic of franz-go's in-process Kafka (kfake): no Kafka
// broker runs in CI.
func TestBrokerKafka(t *testing.T) {
	t.Parallel()
	addr := destinationtest.Kafka(t, "events")
	srv := startServer(t, t.TempDir())
	id, secret := brokerWebhook(t, srv, "kafka://"+addr+"/events")
	d := publishDrift(t, srv, id, "success")
	ack := ackOf(t, d)
	if ack["broker"] != "kafka" || ack["topic"] != "events" || ack["offset"] == nil {
		t.Errorf("ack in the log = %v, want topic events and an offset", ack)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(consumer.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var records []*kgo.Record
	for len(records) < 2 {
		fetches := consumer.PollRecords(ctx, 2)
		if err := fetches.Err(); err != nil {
			t.Fatalf("after %d records: %v", len(records), err)
		}
		records = append(records, fetches.Records()...)
	}
	// The ping, then the event, which the log's offset points at.
	rec := records[1]
	destinationtest.Verify(t, secret, destinationtest.KafkaHeaders(rec.Headers), rec.Value)
	if !isDrift(rec.Value) || fmt.Sprint(ack["offset"]) != fmt.Sprint(rec.Offset) {
		t.Errorf("ack offset %v; the record at offset %d is %s", ack["offset"], rec.Offset, rec.Value)
	}
}

// TestBrokerURLsRefused checks the API's answers to broker URLs it cannot use.
func TestBrokerURLsRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--allow-private-networks=false")
	for url, want := range map[string]string{
		"ftp://example.com/x":                            "broker URL",
		"nats://nats.example.com:4222":                   "needs a subject",
		"amqp://u:p@rabbit.example.com/v":                "needs a routing_key",
		"redis://redis.example.com:6379/0":               "needs a stream",
		"kafka://kafka.example.com:9092":                 "needs a topic",
		"nats://127.0.0.1:4222/orders":                   "--allow-private-networks",
		"amqp://u:***@rabbit.example.com/?routing_key=q": "give the password itself",
	} {
		var e apiError
		code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "x", "url": url}, &e)
		if code != 422 || !strings.Contains(e.Error+e.Details, want) {
			t.Errorf("%s: %d %q, want 422 with %q", url, code, e.Error, want)
		}
	}
	var e apiError
	code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "x", "url": "kafka://93.184.215.14:9092/t",
		"auth": map[string]any{"type": "basic", "username": "u", "password": "p"}}, &e)
	if code != 422 || !strings.Contains(e.Error, "credentials go in its url") {
		t.Errorf("a broker URL with endpoint auth: %d %q, want 422", code, e.Error)
	}
}
