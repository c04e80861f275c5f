package destination

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// redisConn is a go-redis client (itself a pool) for one server and database.
type redisConn struct{ c *redis.Client }

func openRedis(ctx context.Context, t *target, dial DialFunc) (conn, error) {
	db := 0
	if t.path != "" {
		db, _ = strconv.Atoi(t.path) // ValidateBrokerURL checked it is a number
	}
	c := redis.NewClient(&redis.Options{
		Addr:     t.addr,
		Username: t.user,
		Password: t.password,
		DB:       db,
		Dialer:   dial,
		// Herald's attempt timeout bounds each command through its context.
		ContextTimeoutEnabled: true,
		ClientName:            "herald",
		DisableIdentity:       true, // CLIENT SETINFO is refused by older servers and proxies
	})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, err
	}
	return &redisConn{c: c}, nil
}

func (r *redisConn) publish(ctx context.Context, t *target, m *Message) (Ack, error) {
	stream := t.query.Get("stream")
	values := []any{"body", m.Body}
	for k, v := range messageHeaders(m.Header) {
		if k == "body" {
			continue // the body's field; a custom header cannot take its place
		}
		values = append(values, k, v)
	}
	args := &redis.XAddArgs{Stream: stream, Values: values}
	if s := t.query.Get("maxlen"); s != "" {
		args.MaxLen, _ = strconv.ParseInt(s, 10, 64) // ValidateBrokerURL checked it
		args.Approx = true                           // trimming whole nodes is much cheaper
	}
	id, err := r.c.XAdd(ctx, args).Result()
	if err != nil {
		return nil, fmt.Errorf("redis XADD to stream %s: %w", stream, err)
	}
	return Ack{"broker": "redis", "stream": stream, "id": id}, nil
}

func (r *redisConn) broken() bool { return false } // go-redis reconnects by itself

func (r *redisConn) close() error { return r.c.Close() }
