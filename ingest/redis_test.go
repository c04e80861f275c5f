package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald"
)

func TestRedisExactlyOnceAcrossCuts(t *testing.T) {
	base := brokerURL(t, "HERALD_TEST_REDIS_URL")
	ctx := context.Background()
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { _ = rc.Close() })
	name := "herald-ingest-test-" + strings.ToLower(herald.NewID("s"))
	t.Cleanup(func() { rc.Del(context.Background(), name, name+".dead") })

	h := newHerald(t)
	p := newCutProxy(t, hostOf(t, base, "6379"))
	h.run(t, p.via(t, base)+"?stream="+name+"&group=herald&consumer=test&count=10")

	s := newStream(300)
	cutWhileIngesting(t, h, p, s, func() error {
		for i := 1; i <= s.n; i++ {
			if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: name, Values: map[string]any{"body": message(i, s.bad(i))}}).Err(); err != nil {
				return fmt.Errorf("XADD: %w", err)
			}
			time.Sleep(time.Millisecond) // a stream, not one burst, for the cuts to land in
		}
		// An entry without a body is dead-lettered too.
		return rc.XAdd(ctx, &redis.XAddArgs{Stream: name, Values: map[string]any{"payload": "x"}}).Err()
	})

	wantDead := int64(s.invalid + 1)
	waitFor(t, 60*time.Second, func() string {
		got, _ := h.events(t)
		return fmt.Sprintf("%d events (want %d), %d dead letters (want %d)", got, s.n-s.invalid, rc.XLen(ctx, name+".dead").Val(), wantDead)
	}, func() bool {
		pending, err := rc.XPending(ctx, name, "herald").Result()
		got, _ := h.events(t)
		return err == nil && pending.Count == 0 && got >= s.n-s.invalid && rc.XLen(ctx, name+".dead").Val() >= wantDead
	})
	// Everything is acknowledged: the figures are final.
	total, distinct := h.events(t)
	if total != s.n-s.invalid || distinct != total {
		t.Errorf("events: %d, %d distinct; want %d, each once", total, distinct, s.n-s.invalid)
	}
	if got := rc.XLen(ctx, name+".dead").Val(); got != wantDead {
		t.Errorf("dead letters: %d, want %d", got, wantDead)
	}
	dead, err := rc.XRange(ctx, name+".dead", "-", "+").Result()
	if err != nil || len(dead) == 0 {
		t.Fatalf("read dead letters: %v", err)
	}
	if r, _ := dead[0].Values["herald-dead-reason"].(string); !strings.Contains(r, "/data/n") {
		t.Errorf("dead letter reason %q does not name /data/n", r)
	}
	if c, _ := dead[0].Values["herald-dead-code"].(string); c != herald.EINVALID {
		t.Errorf("dead letter code %q, want %s", c, herald.EINVALID)
	}
	checkCounters(t, h, p, "redis:"+name, s.n-s.invalid, int(wantDead))
}
