package destination

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald"
)

// DialFunc connects to a broker's address; egress.Guard.DialContext is one.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// IdleTimeout is how long a broker connection is kept without a message.
const IdleTimeout = 5 * time.Minute

// connectTimeout bounds opening a connection when the caller's context allows longer.
const connectTimeout = 10 * time.Second

// Message is one delivery attempt to a broker.
type Message struct {
	// URL is the webhook's URL, password included.
	URL string
	// ID is the delivery's id, the broker's message id where it has one.
	ID     string
	Body   []byte
	Header http.Header
}

// Ack is the broker's acknowledgement of a message, as recorded in the delivery log:
// "broker" and the broker's own fields (nats: stream, sequence, duplicate; amqp:
// delivery_tag; redis: stream, id; kafka: topic, partition, offset).
type Ack map[string]any

// String returns a as JSON.
func (a Ack) String() string {
	b, err := json.Marshal(map[string]any(a))
	if err != nil {
		return fmt.Sprintf("%v", map[string]any(a)) // only numbers, strings and bools go in an Ack
	}
	return string(b)
}

// Publisher publishes messages to brokers over pooled connections. The zero value is
// not usable; create one with New. It is safe for concurrent use.
type Publisher struct {
	dial DialFunc
	now  func() time.Time

	mu        sync.Mutex
	conns     map[string]*pooled
	closed    bool
	lastSweep time.Time
}

// pooled is one connection in the pool, opened by the first caller that needs it.
type pooled struct {
	ready    chan struct{} // closed once conn or err is set
	conn     conn
	err      error
	inUse    int
	lastUsed time.Time
}

// conn is an open connection to one broker.
type conn interface {
	publish(ctx context.Context, t *target, m *Message) (Ack, error)
	// broken reports whether the connection can carry no more messages.
	broken() bool
	close() error
}

// target is a parsed destination URL: where to connect (key, with credentials) and what
// to publish to.
type target struct {
	kind     herald.DestinationKind
	u        *url.URL
	addr     string // host:port
	key      string // the pool's key: kind, credentials, address, and vhost or db
	path     string // nats subject, amqp vhost, redis db, kafka topic, unescaped
	query    url.Values
	user     string
	password string
}

// New returns a Publisher that connects through dial (net.Dialer's DialContext when nil).
func New(dial DialFunc) *Publisher {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &Publisher{dial: dial, now: time.Now, conns: map[string]*pooled{}}
}

// errClosed is returned by Publish after Close.
var errClosed = errors.New("broker connections are closed: Herald is shutting down")

func parse(rawURL string) (*target, error) {
	if err := herald.ValidateBrokerURL(rawURL); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, herald.Errorf(herald.EINVALID, "url is not valid") // ValidateBrokerURL parsed it already
	}
	t := &target{kind: herald.DestinationOf(rawURL), u: u, addr: herald.BrokerAddress(u), query: u.Query(),
		path: strings.TrimPrefix(u.Path, "/")}
	if u.User != nil {
		t.user = u.User.Username()
		t.password, _ = u.User.Password()
	}
	t.key = string(t.kind) + "\x00" + t.user + "\x00" + t.password + "\x00" + t.addr
	if t.kind == herald.DestinationAMQP || t.kind == herald.DestinationRedis {
		t.key += "\x00" + t.path
	}
	return t, nil
}

// Publish delivers m to the broker its URL names and returns the broker's
// acknowledgement. The error says what went wrong in words for the delivery log,
// without the URL.
func (p *Publisher) Publish(ctx context.Context, m *Message) (Ack, error) {
	t, err := parse(m.URL)
	if err != nil {
		return nil, err
	}
	e, err := p.acquire(ctx, t)
	if err != nil {
		return nil, err
	}
	ack, err := e.conn.publish(ctx, t, m)
	p.release(t.key, e)
	return ack, err
}

// PublishJSON is Publish for the dispatcher, which knows nothing of this package's
// types: it returns the acknowledgement as JSON.
func (p *Publisher) PublishJSON(ctx context.Context, rawURL, id string, body []byte, header http.Header) (string, error) {
	ack, err := p.Publish(ctx, &Message{URL: rawURL, ID: id, Body: body, Header: header})
	if err != nil {
		return "", err
	}
	return ack.String(), nil
}

// acquire returns t's connection, opening it if need be, marked in use.
func (p *Publisher) acquire(ctx context.Context, t *target) (*pooled, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	p.sweep()
	e, ok := p.conns[t.key]
	if ok && e.conn != nil && e.conn.broken() {
		delete(p.conns, t.key)
		if e.inUse == 0 {
			go e.conn.close() //nolint:errcheck // a broken connection's close error says nothing new
		}
		ok = false
	}
	if !ok {
		e = &pooled{ready: make(chan struct{})}
		p.conns[t.key] = e
		go p.open(t, e)
	}
	e.inUse++
	p.mu.Unlock()

	select {
	case <-e.ready:
	case <-ctx.Done():
		p.release(t.key, e)
		return nil, ctx.Err()
	}
	if e.err != nil {
		p.release(t.key, e)
		return nil, e.err
	}
	return e, nil
}

// open connects e, with its own timeout rather than the first caller's context, so a
// caller that gives up does not fail the others waiting for the same connection.
func (p *Publisher) open(t *target, e *pooled) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	var c conn
	var err error
	switch t.kind {
	case herald.DestinationNATS:
		c, err = openNATS(ctx, t, p.dial)
	case herald.DestinationAMQP:
		c, err = openAMQP(ctx, t, p.dial)
	case herald.DestinationRedis:
		c, err = openRedis(ctx, t, p.dial)
	case herald.DestinationKafka:
		c, err = openKafka(ctx, t, p.dial)
	default:
		err = fmt.Errorf("no publisher for %s", t.kind)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		e.err = fmt.Errorf("connect to %s broker %s: %w", t.kind, t.addr, err)
		if p.conns[t.key] == e {
			delete(p.conns, t.key) // the next attempt tries again
		}
	} else if p.closed {
		e.err = errClosed
		go c.close() //nolint:errcheck // closing on shutdown; nothing to report to
	} else {
		e.conn = c
	}
	close(e.ready)
}

// release marks e no longer in use by one caller.
func (p *Publisher) release(key string, e *pooled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.inUse--
	e.lastUsed = p.now()
	if e.inUse == 0 && e.conn != nil && (p.closed || p.conns[key] != e) {
		go e.conn.close() //nolint:errcheck // dropped from the pool; nobody waits for it
	}
}

// sweep closes connections idle for IdleTimeout, at most once a minute. p.mu is held.
func (p *Publisher) sweep() {
	now := p.now()
	if now.Sub(p.lastSweep) < time.Minute {
		return
	}
	p.lastSweep = now
	for k, e := range p.conns {
		if e.inUse == 0 && e.conn != nil && now.Sub(e.lastUsed) > IdleTimeout {
			delete(p.conns, k)
			go e.conn.close() //nolint:errcheck // idle: nobody waits for it
		}
	}
}

// Close closes every connection and makes Publish fail from now on. Connections in use
// are closed when their message is done.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.closed = true
	var idle []conn
	for k, e := range p.conns {
		delete(p.conns, k)
		if e.inUse == 0 && e.conn != nil {
			idle = append(idle, e.conn)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

// Len returns how many connections the pool holds.
func (p *Publisher) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// messageHeaders returns h's headers with lower-case names, one value each (a repeated
// header's values joined with ", ", as HTTP would read them).
func messageHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return out
}
