package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald"
)

// Publisher publishes one message's event by the API's rules; *httpapi.Publisher
// satisfies it. An error of code EINVALID, ETOOLARGE, EMALFORMED or ECONFLICT refuses
// the message for what it is; any other is the store's, and publishing again may succeed.
type Publisher interface {
	Publish(ctx context.Context, body []byte, idempotencyKey string) (herald.PublishResult, error)
}

// Config is what ingest needs. Publisher is required.
type Config struct {
	Publisher Publisher
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Metrics gets the ingest counters; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// MinBackoff and MaxBackoff bound the wait before reconnecting to a broker or
	// publishing again after the store failed; default 100 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Header names of a dead letter. On Redis they are fields, in lower case.
const (
	// HeaderDeadReason says why the message was not published, safe to show its sender.
	HeaderDeadReason = "Herald-Dead-Reason"
	// HeaderDeadCode is the error's code, such as VALIDATION_FAILED.
	HeaderDeadCode = "Herald-Dead-Code"
)

// Source is one --ingest URL, parsed and checked.
type Source struct {
	// Scheme is nats, amqp (or amqps) or redis (or rediss).
	Scheme string
	// Name is what is read: the NATS subject, the AMQP queue or the Redis stream.
	Name string
	// Dead is where dead letters go: a subject, a queue or a stream; default Name+".dead".
	Dead string
	// Params are the scheme's other settings from the URL's query, such as group.
	Params url.Values

	conn *url.URL // the broker's address, without Herald's parameters
	kind string   // nats, amqp or redis
}

// String is the source as metrics and logs name it, without credentials: nats:orders.
func (s *Source) String() string { return s.Scheme + ":" + s.Name }

// Address is the broker's address with any password replaced, for logs.
func (s *Source) Address() string { return s.conn.Redacted() }

// params each scheme takes, besides dead.
var params = map[string][]string{
	"nats":  {"durable", "queue_group", "ack_wait"},
	"amqp":  {"queue", "prefetch", "consumer_tag"},
	"redis": {"stream", "group", "consumer", "claim_idle", "count"},
}

// ParseSource parses an --ingest URL: nats://host:4222/subject, amqp://…/vhost?queue=q
// or redis://…/0?stream=s&group=g, each with an optional dead=name. The error says what
// to fix, and never holds the URL's password.
func ParseSource(raw string) (*Source, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, password and all.
		return nil, errors.New("ingest URL is not a URL: want nats://host:4222/subject, amqp://host:5672/vhost?queue=q or redis://host:6379/0?stream=s&group=g")
	}
	scheme := u.Scheme
	var kind string
	switch scheme {
	case "nats", "amqp", "redis":
		kind = scheme
	case "amqps":
		kind = "amqp"
	case "rediss":
		kind = "redis"
	default:
		return nil, fmt.Errorf("ingest URL scheme %q: want nats, amqp, amqps, redis or rediss", scheme)
	}
	if u.Host == "" {
		// Without //, url.Parse takes user:password@host for an opaque part, which
		// Redacted would show: the URL is not repeated.
		return nil, fmt.Errorf("ingest URL of scheme %s names no host: want %s://host:port/…", scheme, scheme)
	}
	q := u.Query()
	s := &Source{Scheme: scheme, Params: url.Values{}, kind: kind}
	known := map[string]bool{"dead": true}
	for _, k := range params[kind] {
		known[k] = true
	}
	conn := *u
	conn.RawQuery, conn.Fragment = "", ""
	rest := url.Values{}
	for k, v := range q {
		if known[k] {
			s.Params[k] = v
		} else {
			rest[k] = v
		}
	}
	s.Dead = q.Get("dead")

	switch kind {
	case "nats":
		s.Name = strings.TrimPrefix(u.Path, "/")
		if s.Name == "" {
			return nil, fmt.Errorf("ingest URL %s names no subject: want nats://host:4222/subject", u.Redacted())
		}
		if len(rest) > 0 {
			return nil, unknownParams(u, rest, kind)
		}
		conn.Path, conn.RawPath = "", ""
		if s.Dead == "" {
			if strings.ContainsAny(s.Name, "*>") {
				return nil, fmt.Errorf("ingest subject %q has a wildcard, so it has no default dead-letter subject: add ?dead=subject", s.Name)
			}
			s.Dead = s.Name + ".dead"
		}
		if strings.ContainsAny(s.Dead, "*> ") {
			return nil, fmt.Errorf("dead-letter subject %q must be a plain subject, without wildcards or spaces", s.Dead)
		}
		if subjectMatches(s.Name, s.Dead) {
			return nil, fmt.Errorf("dead-letter subject %q is one the ingest subject %q reads: dead letters would come back in; choose another with ?dead=", s.Dead, s.Name)
		}
		if _, err := s.duration("ack_wait", 30*time.Second); err != nil {
			return nil, err
		}
	case "amqp":
		s.Name = q.Get("queue")
		if s.Name == "" {
			return nil, fmt.Errorf("ingest URL %s names no queue: add ?queue=name", u.Redacted())
		}
		// amqp091 reads its own settings (heartbeat, connection_timeout, …) from the query.
		conn.RawQuery = rest.Encode()
		if _, err := s.number("prefetch", 100); err != nil {
			return nil, err
		}
	case "redis":
		s.Name = q.Get("stream")
		if s.Name == "" || q.Get("group") == "" {
			return nil, fmt.Errorf("ingest URL %s needs a stream and a consumer group: add ?stream=name&group=name", u.Redacted())
		}
		conn.RawQuery = rest.Encode()
		if _, err := s.duration("claim_idle", time.Minute); err != nil {
			return nil, err
		}
		if _, err := s.number("count", 100); err != nil {
			return nil, err
		}
	}
	if s.Dead == "" {
		s.Dead = s.Name + ".dead"
	}
	if s.Dead == s.Name {
		return nil, fmt.Errorf("dead-letter destination %q is the one read: choose another with ?dead=", s.Dead)
	}
	s.conn = &conn
	// The clients' own settings in the query, and the vhost or database in the path, are
	// checked now, so a mistake stops the server at start rather than a reader later.
	var err2 error
	switch kind {
	case "amqp":
		_, err2 = amqp.ParseURI(conn.String())
	case "redis":
		_, err2 = redis.ParseURL(conn.String())
	}
	if err2 != nil {
		return nil, fmt.Errorf("ingest URL %s: %w", conn.Redacted(), err2)
	}
	return s, nil
}

func unknownParams(u *url.URL, rest url.Values, kind string) error {
	var names []string
	for k := range rest {
		names = append(names, k)
	}
	return fmt.Errorf("ingest URL %s: unknown parameter(s) %s; %s takes dead, %s", u.Redacted(), strings.Join(names, ", "), kind, strings.Join(params[kind], ", "))
}

// duration is the source's parameter name as a positive duration, or def.
func (s *Source) duration(name string, def time.Duration) (time.Duration, error) {
	v := s.Params.Get(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ingest parameter %s=%q: want a positive duration like 30s", name, v)
	}
	return d, nil
}

// number is the source's parameter name as a whole number from 1 to 10000, or def.
func (s *Source) number(name string, def int) (int, error) {
	v := s.Params.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, fmt.Errorf("ingest parameter %s=%q: want a whole number from 1 to 10000", name, v)
	}
	return n, nil
}

// subjectMatches reports whether the NATS subject pattern matches subject.
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

// Ingest reads every source and publishes what it reads.
type Ingest struct {
	cfg     Config
	sources []*Source
	log     *slog.Logger
	metrics *metrics
}

// New checks cfg and returns an Ingest of sources.
func New(cfg Config, sources []*Source) (*Ingest, error) {
	if cfg.Publisher == nil {
		return nil, errors.New("ingest: Config needs a Publisher")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	return &Ingest{cfg: cfg, sources: sources, log: cfg.Logger, metrics: newMetrics(cfg.Metrics)}, nil
}

// Run reads every source until ctx ends, reconnecting as often as it must, and returns
// nil then. Messages in hand when ctx ends are left unacknowledged, for the broker to
// deliver again.
func (in *Ingest) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range in.sources {
		r := in.reader(s)
		g.Go(func() error {
			in.log.Info("ingest: reading", "source", s.String(), "broker", s.Address(), "dead_letters", s.Dead)
			switch s.kind {
			case "nats":
				return r.runNATS(ctx)
			case "amqp":
				return r.runAMQP(ctx)
			default:
				return r.runRedis(ctx)
			}
		})
	}
	return g.Wait()
}

// reader is one source's state while it runs.
type reader struct {
	src *Source
	pub Publisher
	log *slog.Logger
	// minBackoff and maxBackoff bound each backoff of this source.
	minBackoff, maxBackoff time.Duration
	// counters for this source
	ingested, dead, redelivered, reconnects prometheus.Counter
}

func (in *Ingest) reader(s *Source) *reader {
	name := s.String()
	return &reader{
		src: s, pub: in.cfg.Publisher, log: in.log.With("source", name),
		minBackoff: in.cfg.MinBackoff, maxBackoff: in.cfg.MaxBackoff,
		ingested:    in.metrics.ingested.WithLabelValues(name),
		dead:        in.metrics.dead.WithLabelValues(name),
		redelivered: in.metrics.redelivered.WithLabelValues(name),
		reconnects:  in.metrics.reconnects.WithLabelValues(name),
	}
}

// deadLetter is why a message is refused for good.
type deadLetter struct {
	Code   string
	Reason string
}

// publish publishes one message's body, retrying a failure of the store with backoff
// until it succeeds or ctx ends; stillWorking, when set, is called before each retry so
// the broker holds the message meanwhile. It returns a deadLetter for a message that can
// never be published, nil for one committed (counting it when its event is new); an
// error only when ctx ended.
func (r *reader) publish(ctx context.Context, body []byte, key string, stillWorking func()) (*deadLetter, error) {
	if len(key) > 255 {
		sum := sha256.Sum256([]byte(key))
		key = "ingest:" + hex.EncodeToString(sum[:])
	}
	b := r.newBackoff()
	conflicts := 0
	for {
		res, err := r.pub.Publish(ctx, body, key)
		if err == nil {
			if !res.Duplicate {
				r.ingested.Inc()
			}
			return nil, nil
		}
		code := herald.ErrorCode(err)
		if code == herald.ECONFLICT && conflicts < 3 {
			// A publish racing another of the same id or key (this message, delivered
			// to another process too) fails with ECONFLICT on PostgreSQL; published
			// again it is a repeat. Only an id another tenant holds stays a conflict.
			conflicts++
			continue
		}
		switch code {
		case herald.EINVALID, herald.ETOOLARGE, herald.EMALFORMED, herald.ECONFLICT:
			reason := herald.ErrorMessage(err)
			var he *herald.Error
			if errors.As(err, &he) && he.Details != "" && he.Details != reason {
				reason += " (" + he.Details + ")"
			}
			return &deadLetter{Code: code, Reason: headerSafe(reason)}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.log.Warn("ingest: the store refused a message; retrying", "error", err)
		if err := b.wait(ctx); err != nil {
			return nil, err
		}
		if stillWorking != nil {
			stillWorking()
		}
	}
}

// headerSafe makes s fit a header value: one line, at most 1 KiB.
func headerSafe(s string) string {
	s = strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' || c < 0x20 {
			return ' '
		}
		return c
	}, s)
	if len(s) > 1024 {
		cut := 1024
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// newBackoff returns a backoff of the source's bounds.
func (r *reader) newBackoff() *backoff { return &backoff{min: r.minBackoff, max: r.maxBackoff} }

// backoff is capped exponential backoff with jitter, safe for concurrent use.
type backoff struct {
	min, max time.Duration
	mu       sync.Mutex
	next     time.Duration
}

// wait sleeps the next delay, or until ctx ends.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.delay())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// delay returns the next delay, from half to all of a doubling one, and advances.
func (b *backoff) delay() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next < b.min {
		b.next = b.min
	}
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, b.max)
	return d
}

// reset starts the delays again from the shortest, after a success.
func (b *backoff) reset() {
	b.mu.Lock()
	b.next = 0
	b.mu.Unlock()
}

// metrics are ingest's counters, by source.
type metrics struct {
	ingested, dead, redelivered, reconnects *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"source"})
		if reg != nil {
			reg.MustRegister(c)
		}
		return c
	}
	return &metrics{
		ingested: counter("herald_ingest_messages_ingested_total",
			"Messages read from a queue that became a new event (committed; a repeat of an id or of a message published before is not counted), by source (scheme:subject, queue or stream)."),
		dead: counter("herald_ingest_messages_dead_lettered_total",
			"Messages refused for good (invalid, too large, unknown type) and sent to the source's dead-letter destination, then acknowledged; counted once the broker confirms, so a confirmation lost with its connection goes uncounted."),
		redelivered: counter("herald_ingest_messages_redelivered_total",
			"Messages the broker delivered again, after a lost connection, a restart or an acknowledgement that did not arrive."),
		reconnects: counter("herald_ingest_reconnects_total",
			"Times a source's broker connection or consumer failed and was made again."),
	}
}
