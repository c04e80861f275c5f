package destination_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/destination"
	"github.com/heraldhq/herald/destination/destinationtest"
)

// BenchmarkPublish measures deliveries per second to each broker, as the dispatcher
// makes them (one message per call, waiting for the broker's ack, 32 in flight), beside
// an HTTP POST to a loopback receiver that answers 200 at once. Brokers whose variable is
// unset are skipped.
//
//	go test -run '^$' -bench Publish -benchtime 5000x ./destination
func BenchmarkPublish(b *testing.B) {
	m := signed(b)
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		b.Cleanup(srv.Close)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		run(b, func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(m.Body))
			req.Header = m.Header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
	})
	b.Run("nats", func(b *testing.B) {
		base := destinationtest.BrokerURL(b, "HERALD_TEST_NATS_URL")
		nc, err := nats.Connect(base.String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		subject := destinationtest.UniqueName("herald.bench.")
		name := strings.ReplaceAll(subject, ".", "_")
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { js.DeleteStream(context.Background(), name) })
		publishBench(b, "nats://"+base.Host+"/"+subject, m)
	})
	b.Run("amqp", func(b *testing.B) {
		base := destinationtest.BrokerURL(b, "HERALD_TEST_AMQP_URL")
		c, err := amqp.Dial(base.String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		ch, _ := c.Channel()
		queue := destinationtest.UniqueName("herald-bench-")
		if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ch.QueueDelete(queue, false, false, false) })
		publishBench(b, base.String()+"?routing_key="+queue, m)
	})
	b.Run("redis", func(b *testing.B) {
		base := destinationtest.BrokerURL(b, "HERALD_TEST_REDIS_URL")
		opt, _ := redis.ParseURL(base.String())
		rc := redis.NewClient(opt)
		b.Cleanup(func() { rc.Close() })
		stream := destinationtest.UniqueName("herald-bench-")
		b.Cleanup(func() { rc.Del(context.Background(), stream) })
		publishBench(b, base.String()+"?stream="+stream+"&maxlen=100000", m)
	})
	b.Run("kafka-kfake", func(b *testing.B) {
		publishBench(b, "kafka://"+destinationtest.Kafka(b, "bench")+"/bench", m)
	})
}

func publishBench(b *testing.B, rawURL string, m0 *destination.Message) {
	p := newPublisher(b)
	m := *m0
	m.URL = rawURL
	run(b, func(ctx context.Context) error {
		mm := m
		mm.ID = "" // no JetStream dedupe: every message is new
		_, err := p.Publish(ctx, &mm)
		return err
	})
}

// run calls send b.N times, 32 at a time, and reports deliveries per second.
func run(b *testing.B, send func(ctx context.Context) error) {
	b.Helper()
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := send(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
