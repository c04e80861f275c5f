package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald"
)

// redisBlock is how long one read waits for new entries.
const redisBlock = 5 * time.Second

// Fields of a Redis entry: the event's JSON is in body; a dead letter adds why.
const (
	redisBody       = "body"
	redisDeadReason = "herald-dead-reason"
	redisDeadCode   = "herald-dead-code"
	redisDeadID     = "herald-dead-id" // the entry's ID in the stream read
)

// runRedis reads the source's stream as a member of its consumer group until ctx ends,
// starting again with backoff after every failure.
func (r *reader) runRedis(ctx context.Context) error {
	opt, err := redis.ParseURL(r.src.conn.String())
	if err != nil {
		return fmt.Errorf("ingest %s: %s: %w", r.src, r.src.Address(), err)
	}
	opt.ClientName = "herald-ingest"
	// No command is sent twice by the client: a MULTI whose EXEC took effect but whose
	// answer was lost would add a second dead letter. The loop below reads what is still
	// pending instead.
	opt.MaxRetries = -1
	// The client replaces a lost connection by itself, often before a command fails;
	// reads are one at a time, so every connection after the first replaces one.
	var connected atomic.Bool
	opt.OnConnect = func(context.Context, *redis.Conn) error {
		if connected.Swap(true) {
			r.reconnects.Inc()
		}
		return nil
	}
	client := redis.NewClient(opt)
	defer func() { _ = client.Close() }() // nothing is left to flush
	b := r.newBackoff()
	for {
		err := r.redisSession(ctx, client, b)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("ingest: Redis read failed; reading again", "error", err)
		if b.wait(ctx) != nil {
			return nil
		}
	}
}

// redisSession reads until an error: first the entries delivered to this consumer and
// never acknowledged, then new ones, claiming now and then the entries another consumer
// of the group left pending for longer than claim_idle (it stopped).
func (r *reader) redisSession(ctx context.Context, c *redis.Client, b *backoff) error {
	stream, group := r.src.Name, r.src.Params.Get("group")
	consumer := r.src.Params.Get("consumer")
	if consumer == "" {
		consumer, _ = os.Hostname()
		if consumer == "" {
			consumer = "herald"
		}
	}
	claimIdle, _ := r.src.duration("claim_idle", time.Minute) // checked by ParseSource
	count, _ := r.src.number("count", 100)
	// A group made now reads the stream from its start: what producers wrote before
	// Herald first ran is theirs to publish too.
	if err := c.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %q on stream %q: %w", group, stream, err)
	}
	var lastClaim time.Time
	pending := true
	for {
		if time.Since(lastClaim) >= claimIdle/2 {
			if err := r.redisClaim(ctx, c, stream, group, consumer, claimIdle, count); err != nil {
				return err
			}
			lastClaim = time.Now()
		}
		id, block := ">", redisBlock
		if pending {
			id, block = "0", -1 // this consumer's own pending entries, at once
		}
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: consumer, Streams: []string{stream, id}, Count: int64(count), Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read stream %q: %w", stream, err)
		}
		b.reset()
		var msgs []redis.XMessage
		if len(res) > 0 {
			msgs = res[0].Messages
		}
		if pending && len(msgs) == 0 {
			pending = false
			continue
		}
		for _, m := range msgs {
			if err := r.redisHandle(ctx, c, stream, group, m, pending); err != nil {
				return err
			}
		}
	}
}

// redisClaim takes and handles the group's entries pending longer than idle.
func (r *reader) redisClaim(ctx context.Context, c *redis.Client, stream, group, consumer string, idle time.Duration, count int) error {
	start := "0-0"
	for {
		msgs, next, err := c.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: stream, Group: group, Consumer: consumer, MinIdle: idle, Start: start, Count: int64(count),
		}).Result()
		if err != nil {
			return fmt.Errorf("claim idle entries of stream %q: %w", stream, err)
		}
		for _, m := range msgs {
			if err := r.redisHandle(ctx, c, stream, group, m, true); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
}

// redisHandle publishes one entry, or dead-letters it, and acknowledges it.
func (r *reader) redisHandle(ctx context.Context, c *redis.Client, stream, group string, m redis.XMessage, redelivered bool) error {
	if len(m.Values) == 0 {
		// Deleted from the stream while pending: nothing to publish.
		return c.XAck(ctx, stream, group, m.ID).Err()
	}
	if redelivered {
		r.redelivered.Inc()
	}
	var dl *deadLetter
	body, ok := m.Values[redisBody].(string)
	if !ok {
		dl = &deadLetter{Code: herald.EINVALID, Reason: "the entry has no field " + redisBody + ": put the event's JSON in a field named " + redisBody}
	} else {
		var err error
		if dl, err = r.publish(ctx, []byte(body), "redis:"+stream+":"+m.ID, nil); err != nil {
			return err
		}
	}
	if dl == nil {
		if err := c.XAck(ctx, stream, group, m.ID).Err(); err != nil {
			return fmt.Errorf("acknowledge %s: %w", m.ID, err)
		}
		return nil
	}
	fields := make(map[string]any, len(m.Values)+3)
	for k, v := range m.Values {
		fields[k] = v
	}
	fields[redisDeadReason] = dl.Reason
	fields[redisDeadCode] = dl.Code
	fields[redisDeadID] = m.ID
	// One transaction: the dead letter is added exactly when the entry is acknowledged.
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: r.src.Dead, Values: fields})
		p.XAck(ctx, stream, group, m.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s to stream %q: %w", m.ID, r.src.Dead, err)
	}
	r.dead.Inc()
	return nil
}
