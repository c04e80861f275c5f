package destination_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/destination"
	"github.com/heraldhq/herald/webhook"
)

// The webhook's secret, as shown when it was created.
const exampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// publishAsHerald publishes one signed standard delivery to rawURL, as Herald's
// dispatcher does for a webhook with that URL.
func publishAsHerald(rawURL string) {
	body := []byte(`{"type":"drift.detected","timestamp":"2026-01-02T03:04:05Z","data":{"resource_id":"i-0abc"}}`)
	h, err := webhook.Sign(webhook.FormatStandard, exampleSecret, "evt_example", time.Now(), body)
	if err != nil {
		panic(err)
	}
	p := destination.New(nil)
	defer p.Close()
	if _, err := p.Publish(context.Background(), &destination.Message{URL: rawURL, ID: "del_example", Body: body, Header: h}); err != nil {
		panic(err)
	}
}

// handle is what a consumer does with a message: verify it, then act on it.
func handle(headers map[string]string, body []byte) {
	v, err := webhook.NewVerifier(webhook.FormatStandard, exampleSecret)
	if err != nil {
		panic(err)
	}
	if err := v.VerifyMessage(headers, body); err != nil {
		fmt.Println("rejected:", err) // not from Herald: drop or dead-letter it
		return
	}
	var envelope struct {
		Type string `json:"type"`
	}
	json.Unmarshal(body, &envelope)
	fmt.Println("verified", envelope.Type, "event", headers["webhook-id"])
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// A consumer of a JetStream stream that a webhook with the URL
// nats://host:4222/example.orders delivers to. Needs NATS with JetStream
// (HERALD_TEST_NATS_URL, default nats://127.0.0.1:4222); TestExamples runs it.
func Example_nats() {
	ctx := context.Background()
	nc, err := nats.Connect(env("HERALD_TEST_NATS_URL", "nats://127.0.0.1:4222"))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// The stream must exist before Herald publishes: a subject no stream captures fails.
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "EXAMPLE_ORDERS", Subjects: []string{"example.orders"}})
	if err != nil {
		panic(err)
	}
	defer js.DeleteStream(ctx, "EXAMPLE_ORDERS")

	publishAsHerald(nc.ConnectedUrl() + "/example.orders")

	consumer, _ := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "orders", AckPolicy: jetstream.AckExplicitPolicy})
	msg, err := consumer.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		panic(err)
	}
	headers := map[string]string{}
	for name, values := range msg.Headers() {
		headers[name] = values[0]
	}
	handle(headers, msg.Data())
	msg.Ack()
}

// A consumer of a RabbitMQ queue that a webhook with the URL
// amqp://user:pass@host:5672/?routing_key=example-orders delivers to. Needs RabbitMQ
// (HERALD_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/); TestExamples
// runs it.
func Example_amqp() {
	url := env("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	conn, err := amqp.Dial(url)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	// Declared before Herald publishes: a message no queue receives fails the attempt.
	q, err := ch.QueueDeclare("example-orders", false, true, false, false, nil)
	if err != nil {
		panic(err)
	}

	publishAsHerald(url + "?routing_key=" + q.Name)

	deliveries, _ := ch.Consume(q.Name, "", false, false, false, false, nil)
	d := <-deliveries
	headers := map[string]string{}
	for name, value := range d.Headers {
		headers[name], _ = value.(string)
	}
	handle(headers, d.Body)
	d.Ack(false)
}

// A consumer of a Redis stream that a webhook with the URL
// redis://host:6379/0?stream=example-orders delivers to: the entry's "body" field is
// the body, its other fields the headers. Needs Redis (HERALD_TEST_REDIS_URL, default
// redis://127.0.0.1:6379/0); TestExamples runs it.
func Example_redis() {
	ctx := context.Background()
	url := env("HERALD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	opt, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	defer rdb.Del(ctx, "example-orders")

	publishAsHerald(url + "?stream=example-orders")

	streams, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"example-orders", "0"}, Count: 1, Block: 5 * time.Second}).Result()
	if err != nil {
		panic(err)
	}
	entry := streams[0].Messages[0]
	headers := map[string]string{}
	for field, value := range entry.Values {
		if field != "body" {
			headers[field] = value.(string)
		}
	}
	handle(headers, []byte(entry.Values["body"].(string)))
}

// A consumer of a Kafka topic that a webhook with the URL kafka://broker:9092/orders
// delivers to; here the broker is franz-go's in-process kfake.
func Example_kafka() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	publishAsHerald("kafka://" + broker + "/orders")

	client, _ := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	record := client.PollRecords(ctx, 1).Records()[0]
	headers := map[string]string{}
	for _, h := range record.Headers {
		headers[h.Key] = string(h.Value)
	}
	handle(headers, record.Value)
	// Output:
	// verified drift.detected event evt_example
}
