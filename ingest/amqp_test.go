package ingest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/ingest"
)

func TestAMQPExactlyOnceAcrossCuts(t *testing.T) {
	base := brokerURL(t, "HERALD_TEST_AMQP_URL")
	ctx := context.Background()
	conn, err := amqp.Dial(base)
	if err != nil {
		t.Fatalf("connect to RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	queue := "herald-ingest-test-" + strings.ToLower(herald.NewID("q"))
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		_, _ = ch.QueueDelete(queue+".dead", false, false, false)
	})
	pch, err := conn.Channel() // the producer's, in confirm mode
	if err != nil {
		t.Fatal(err)
	}
	if err := pch.Confirm(false); err != nil {
		t.Fatal(err)
	}

	h := newHerald(t)
	p := newCutProxy(t, hostOf(t, base, "5672"))
	u := p.via(t, base)
	stop := h.run(t, u+"?queue="+queue+"&prefetch=20")

	s := newStream(300)
	cutWhileIngesting(t, h, p, s, func() error {
		for i := 1; i <= s.n; i++ {
			// Accepted means confirmed: the broker holds it. The message_id is the
			// identity that makes a redelivery a repeat.
			conf, err := pch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent,
				MessageId: "m" + strconv.Itoa(i), Body: message(i, s.bad(i)),
			})
			if err != nil {
				return fmt.Errorf("publish %d: %w", i, err)
			}
			if ok, err := conf.WaitContext(ctx); err != nil || !ok {
				return fmt.Errorf("publish %d not confirmed: %v", i, err)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})

	count := func(q string) int {
		info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatalf("inspect queue %s: %v", q, err)
		}
		return info.Messages
	}
	waitFor(t, 60*time.Second, func() string {
		got, _ := h.events(t)
		return fmt.Sprintf("%d events (want %d), %d dead letters (want %d)", got, s.n-s.invalid, count(queue+".dead"), s.invalid)
	}, func() bool {
		got, _ := h.events(t)
		return got >= s.n-s.invalid && count(queue+".dead") >= s.invalid
	})
	// Stopping requeues whatever was delivered and not acknowledged: nothing may be.
	stop()
	if n := count(queue); n != 0 {
		t.Errorf("%d messages left in the queue, unacknowledged", n)
	}
	total, distinct := h.events(t)
	if total != s.n-s.invalid || distinct != total {
		t.Errorf("events: %d, %d distinct; want %d, each once", total, distinct, s.n-s.invalid)
	}
	if got := count(queue + ".dead"); got != s.invalid {
		t.Errorf("dead letters: %d, want %d", got, s.invalid)
	}
	d, ok, err := ch.Get(queue+".dead", true)
	if err != nil || !ok {
		t.Fatalf("get a dead letter: %v %v", ok, err)
	}
	if r, _ := d.Headers[ingest.HeaderDeadReason].(string); !strings.Contains(r, "/data/n") {
		t.Errorf("dead letter reason %q does not name /data/n", r)
	}
	if c, _ := d.Headers[ingest.HeaderDeadCode].(string); c != herald.EINVALID {
		t.Errorf("dead letter code %q, want %s", c, herald.EINVALID)
	}
	if d.MessageId != "m10" || string(d.Body) != string(message(10, true)) {
		t.Errorf("dead letter %s %s, want the message m10's", d.MessageId, d.Body)
	}
	checkCounters(t, h, p, "amqp:"+queue, s.n-s.invalid, s.invalid)
}
