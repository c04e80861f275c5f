package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/ingest"
)

func natsConnect(t *testing.T, rawURL string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(rawURL)
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func TestNATSJetStreamExactlyOnceAcrossCuts(t *testing.T) {
	base := brokerURL(t, "HERALD_TEST_NATS_URL")
	ctx := context.Background()
	_, js := natsConnect(t, base)
	id := strings.ToLower(herald.NewID("s"))
	subject := "herald.ingest.test." + id
	for _, name := range []string{"INGEST_" + id, "INGEST_DEAD_" + id} {
		subjects := []string{subject}
		if strings.Contains(name, "DEAD") {
			subjects = []string{subject + ".dead"}
		}
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects}); err != nil {
			t.Fatalf("create stream %s: %v", name, err)
		}
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	}

	h := newHerald(t)
	p := newCutProxy(t, hostOf(t, base, "4222"))
	stop := h.run(t, p.via(t, base)+"/"+subject+"?ack_wait=2s&durable=herald-test")

	s := newStream(300)
	cutWhileIngesting(t, h, p, s, func() error {
		for i := 1; i <= s.n; i++ {
			// Accepted means acknowledged by the stream.
			if _, err := js.Publish(ctx, subject, message(i, s.bad(i))); err != nil {
				return fmt.Errorf("publish %d: %w", i, err)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})

	deadStream, err := js.Stream(ctx, "INGEST_DEAD_"+id)
	if err != nil {
		t.Fatal(err)
	}
	deadCount := func() int {
		info, err := deadStream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(info.State.Msgs)
	}
	cons, err := js.Consumer(ctx, "INGEST_"+id, "herald-test")
	if err != nil {
		t.Fatal(err)
	}
	settled := func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}
	waitFor(t, 60*time.Second, func() string {
		got, _ := h.events(t)
		return fmt.Sprintf("%d events (want %d), %d dead letters (want %d)", got, s.n-s.invalid, deadCount(), s.invalid)
	}, func() bool {
		got, _ := h.events(t)
		return got >= s.n-s.invalid && deadCount() >= s.invalid && settled()
	})
	stop()
	if !settled() {
		t.Errorf("messages left unacknowledged")
	}
	total, distinct := h.events(t)
	if total != s.n-s.invalid || distinct != total {
		t.Errorf("events: %d, %d distinct; want %d, each once", total, distinct, s.n-s.invalid)
	}
	if got := deadCount(); got != s.invalid {
		t.Errorf("dead letters: %d, want %d", got, s.invalid)
	}
	m, err := deadStream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Header.Get(ingest.HeaderDeadReason); !strings.Contains(r, "/data/n") {
		t.Errorf("dead letter reason %q does not name /data/n", r)
	}
	if c := m.Header.Get(ingest.HeaderDeadCode); c != herald.EINVALID {
		t.Errorf("dead letter code %q, want %s", c, herald.EINVALID)
	}
	if string(m.Data) != string(message(10, true)) {
		t.Errorf("dead letter body %s, want the message's, %s", m.Data, message(10, true))
	}
	checkCounters(t, h, p, "nats:"+subject, s.n-s.invalid, s.invalid)
}

// On a subject no stream captures, ingest reads core NATS: no redelivery, so no cuts here.
func TestNATSCore(t *testing.T) {
	base := brokerURL(t, "HERALD_TEST_NATS_URL")
	nc, _ := natsConnect(t, base)
	subject := "herald.ingest.core." + strings.ToLower(herald.NewID("s"))
	dead, err := nc.SubscribeSync(subject + ".dead")
	if err != nil {
		t.Fatal(err)
	}
	h := newHerald(t)
	h.run(t, base+"/"+subject)
	// Ingest's queue subscription is made asynchronously: publish until it takes one,
	// with an id, so that however many arrive they make one event.
	warmup := fmt.Appendf(nil, `{"type":%q,"id":"warmup","data":{"n":0}}`, testType)
	waitFor(t, 30*time.Second, func() string { return "no event from core NATS" }, func() bool {
		if err := nc.Publish(subject, warmup); err != nil {
			t.Fatal(err)
		}
		got, _ := h.events(t)
		return got > 0
	})
	for i := 1; i <= 20; i++ {
		if err := nc.Publish(subject, message(i, i%5 == 0)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		m, err := dead.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		if m.Header.Get(ingest.HeaderDeadCode) != herald.EINVALID {
			t.Errorf("dead letter headers %v, want %s %s", m.Header, ingest.HeaderDeadCode, herald.EINVALID)
		}
	}
	waitFor(t, 30*time.Second, func() string { got, _ := h.events(t); return fmt.Sprintf("%d events, want 17", got) },
		func() bool { got, _ := h.events(t); return got == 17 }) // the warm-up and 16 valid
}
