package ingest_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/ingest"
)

func TestParseSource(t *testing.T) {
	t.Parallel()
	good := []struct {
		url, source, dead, address string
	}{
		{"nats://127.0.0.1:4222/orders.created", "nats:orders.created", "orders.created.dead", "nats://127.0.0.1:4222"},
		{"nats://u:pw@n:4222/orders.*?dead=rejected.orders&durable=d", "nats:orders.*", "rejected.orders", "nats://u:xxxxx@n:4222"},
		{"amqp://guest:guest@rabbit:5672/prod?queue=events&heartbeat=5", "amqp:events", "events.dead", "amqp://guest:xxxxx@rabbit:5672/prod?heartbeat=5"},
		{"amqps://rabbit/?queue=events&dead=bad&prefetch=10", "amqps:events", "bad", "amqps://rabbit/"},
		{"redis://:pw@redis:6379/2?stream=s&group=g&claim_idle=30s", "redis:s", "s.dead", "redis://:xxxxx@redis:6379/2"},
		{"rediss://redis/0?stream=s&group=g&dead=rejects&count=5&consumer=c1", "rediss:s", "rejects", "rediss://redis/0"},
	}
	for _, c := range good {
		s, err := ingest.ParseSource(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if s.String() != c.source || s.Dead != c.dead || s.Address() != c.address {
			t.Errorf("%s: source %q dead %q address %q; want %q %q %q", c.url, s, s.Dead, s.Address(), c.source, c.dead, c.address)
		}
	}

	bad := []struct{ url, want string }{
		{"http://x/y", "scheme"},
		{"nats:///subject", "host"},
		{"nats://n:4222", "no subject"},
		{"nats://n:4222/a.>", "wildcard"},
		{"nats://n:4222/a.>?dead=a.dead", "reads"},
		{"nats://n:4222/a?dead=a.*", "plain subject"},
		{"nats://n:4222/a?dead=a", "reads"},
		{"nats://n:4222/a?queue=q", "unknown parameter"},
		{"nats://n:4222/a?ack_wait=-1s", "ack_wait"},
		{"amqp://r:5672/", "queue"},
		{"amqp://r/?queue=q&dead=q", "the one read"},
		{"amqp://r/?queue=q&prefetch=0", "prefetch"},
		{"redis://r/0?stream=s", "group"},
		{"redis://r/0?group=g", "stream"},
		{"redis://r/0?stream=s&group=g&count=100000", "count"},
		{"redis://r/0?stream=s&group=g&claim_idle=soon", "claim_idle"},
		{"redis://u:s3cret@r/0?stream=s", "group"},
		{"redis://u:s3cret@r/x?stream=s&group=g", "database"},
		{"redis://r/0?stream=s&group=g&pool_size=many", "pool_size"},
		{"amqp://u:s3cret@r/?queue=q&heartbeat=often", "heartbeat"},
		{"://s3cret@", "not a URL"},
	}
	for _, c := range bad {
		_, err := ingest.ParseSource(c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
	}
}

// FuzzParseSource: any URL is parsed or refused without a panic, and a refusal never
// repeats the URL's password.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"nats://u:pw@127.0.0.1:4222/orders.created?dead=x",
		"amqp://guest:guest@rabbit:5672/prod?queue=events",
		"redis://:pw@redis:6379/2?stream=s&group=g&claim_idle=30s",
		"nats://n/a.>?dead=a.b", "redis://r/0?stream=s&group=g&count=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ingest.ParseSource(raw)
		if err != nil {
			if strings.Contains(raw, ":pw@") && strings.Contains(err.Error(), ":pw@") {
				t.Errorf("%q: the error shows the password: %v", raw, err)
			}
			return
		}
		if s.Name == "" || s.Dead == "" || s.Dead == s.Name {
			t.Errorf("%q: accepted with name %q and dead %q", raw, s.Name, s.Dead)
		}
	})
}
