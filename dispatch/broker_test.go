package dispatch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/destination"
	"github.com/heraldhq/herald/destination/destinationtest"
	"github.com/heraldhq/herald/dispatch"
)

// TestBrokerAttempts delivers to a Kafka topic (franz-go's in-process kfake) through a
// real destination.Publisher: the attempt succeeds with the broker's offset as its
// response body and the signature headers as its request headers; a topic that does not
// exist fails the attempt with the broker's reason and schedules a retry, as a failed
// HTTP attempt does; and a dispatcher without a publisher says so.
func TestBrokerAttempts(t *testing.T) {
	t.Parallel()
	addr := destinationtest.Kafka(t, "events")
	brokers := destination.New(nil)
	t.Cleanup(func() { brokers.Close() })
	e := newEnvWith(t, dispatch.Config{Brokers: brokers})

	e.webhook("kafka://"+addr+"/events", herald.FormatStandard)
	id := e.publish()[0]
	e.deliverDue(t0)
	d := e.delivery(id)
	if d.Status != herald.StatusSuccess || len(d.Attempts) != 1 {
		t.Fatalf("delivery %s with %d attempts (%+v), want success with 1", d.Status, len(d.Attempts), d.Attempts)
	}
	a := d.Attempts[0]
	var ack map[string]any
	if err := json.Unmarshal([]byte(a.ResponseBody), &ack); err != nil || ack["broker"] != "kafka" || ack["offset"] != float64(0) {
		t.Errorf("response body %q, want the broker's ack with offset 0", a.ResponseBody)
	}
	if a.StatusCode != 0 || a.RequestHeaders.Get("webhook-signature") == "" {
		t.Errorf("status %d, request headers %v; want no status and the signature headers", a.StatusCode, a.RequestHeaders)
	}

	e.webhook("kafka://"+addr+"/missing", herald.FormatStandard)
	ids := e.publish()
	e.deliverDue(t0)
	failing := 0
	for _, id := range ids {
		d := e.delivery(id)
		if d.Status == herald.StatusSuccess {
			continue // the first webhook's
		}
		failing++
		if d.Status != herald.StatusPending || d.NextAttemptAt == nil || !strings.Contains(d.LastError, "UNKNOWN_TOPIC_OR_PARTITION") {
			t.Errorf("delivery to a missing topic: %s, next %v, error %q; want pending with a retry and the broker's reason", d.Status, d.NextAttemptAt, d.LastError)
		}
	}

	if failing != 1 {
		t.Errorf("%d deliveries failed of the event sent to both topics, want 1 (the missing topic's)", failing)
	}

	bare := newEnv(t, nil)
	bare.webhook("nats://127.0.0.1:4222/orders", herald.FormatStandard)
	id = bare.publish()[0]
	bare.deliverDue(t0)
	if d := bare.delivery(id); !strings.Contains(d.LastError, "no broker publisher is configured") {
		t.Errorf("delivery without a publisher: error %q, want it to say so", d.LastError)
	}
}
