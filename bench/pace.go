package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald"
)

// paced is what publishPaced did.
type paced struct {
	// expected is how many of the events the receiver was told to expect.
	expected int
	// behind counts the publishes that started over 5 ms after they were due.
	behind int
}

// publishPaced publishes n single events at rate per second with an open-loop pacer:
// event i is due at start + i/rate whatever happened to the earlier ones, and the
// receiver times it from that instant, so a slow answer cannot hide behind a lower
// offered rate. Event i goes to tenant(i) ("" for the calling key's own); the receiver
// expects it when expect(i), or always when expect is nil. Up to 512 publishes are in
// flight, enough that a slow answer never holds the next one back. It returns once
// every publish has answered, with the first that failed.
func (b *harness) publishPaced(ctx context.Context, s *heraldServers, n int, rate float64, tenant func(i int) string, expect func(i int) bool) (paced, error) {
	var out paced
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, 512)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now().Add(20 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		if time.Since(at) > 5*time.Millisecond {
			out.behind++
		}
		if ctx.Err() != nil || firstErr.Load() != nil {
			break
		}
		sem <- struct{}{}
		id := herald.NewID(herald.PrefixEvent)
		if expect == nil || expect(i) {
			b.rcv.Expect(id, at, 1)
			out.expected++
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := b.call(ctx, s, s.urls[0], "POST", "/api/v1/events", newEvent(id, tenant(i)), nil); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return out, err
	}
	return out, ctx.Err()
}

// waitAnswered waits until the receiver has answered at least want requests, pings
// included: the creation pings of new webhooks are in, so a run starts on an idle
// dispatcher.
func (b *harness) waitAnswered(ctx context.Context, want int64) error {
	for b.rcv.Answered() < want {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
