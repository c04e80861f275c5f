package ingest_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
)

// testType is the event type the tests publish: data {"n": integer}.
const testType = "ingest.tested"

// brokerURL is the test broker's URL from env, or the test is skipped saying so.
func brokerURL(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Skipf("%s is unset: set it to a broker on loopback to run this test (.ci/run does)", env)
	}
	return v
}

// herald is a real SQLite store behind the API's publish path, as serve wires it.
type heraldEnv struct {
	store   herald.Store
	db      *sql.DB // the same file, read beside the store to count what it holds
	pub     *httpapi.Publisher
	metrics *prometheus.Registry
}

type noDispatcher struct{}

func (noDispatcher) Wake() {}
func (noDispatcher) DeliverNow(context.Context, string) (*herald.Attempt, error) {
	return nil, herald.Errorf(herald.EINTERNAL, "no dispatcher in ingest tests")
}

func newHerald(t *testing.T) *heraldEnv {
	t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "herald.db")
	st, err := sqlite.Open(ctx, path, box)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.CreateTenant(ctx, &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
		herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil {
		t.Fatalf("create default tenant: %v", err)
	}
	cat, err := catalog.New(herald.EventType{
		Type:        testType,
		Description: "A message of the ingest tests.",
		Schema:      []byte(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}`),
		Sample:      []byte(`{"n":1}`),
	})
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	reg := prometheus.NewRegistry()
	return &heraldEnv{
		store: st, db: db, metrics: reg,
		pub: httpapi.NewPublisher(httpapi.Config{Store: st, Catalog: cat, Dispatcher: noDispatcher{}, Metrics: reg}),
	}
}

// events counts the stored events of the test type, and how many distinct n they hold.
func (h *heraldEnv) events(t *testing.T) (total, distinct int) {
	t.Helper()
	err := h.db.QueryRow(`SELECT count(*), count(DISTINCT json_extract(data, '$.n')) FROM events WHERE type = ?`, testType).Scan(&total, &distinct)
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	return total, distinct
}

// run starts ingest of rawURL and returns what stops it and waits for it to end, also
// called at the test's end.
func (h *heraldEnv) run(t *testing.T, rawURL string) (stop func()) {
	t.Helper()
	src, err := ingest.ParseSource(rawURL)
	if err != nil {
		t.Fatalf("ParseSource: %v", err)
	}
	in, err := ingest.New(ingest.Config{
		Publisher: h.pub, Metrics: h.metrics,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
	}, []*ingest.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30 s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// counter is the value of the ingest counter name for source.
func (h *heraldEnv) counter(t *testing.T, name, source string) float64 {
	t.Helper()
	mfs, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// waitFor polls cond until it holds, failing the test after timeout with what.
func waitFor(t *testing.T, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cutProxy forwards TCP connections to a broker and cuts every one of them on demand,
// as a broker restart or a network failure would; new connections are taken meanwhile.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cuts   int
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src) // ends when either side is closed or cut
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(b, c)
		go pipe(c, b)
	}
}

// cut closes every connection through the proxy and returns how many it closed.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	if n > 0 {
		p.cuts++
	}
	return n
}

// via returns rawURL with its host replaced by the proxy's address.
func (p *cutProxy) via(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// hostOf is rawURL's host:port, with def as the port when it names none.
func hostOf(t *testing.T, rawURL, def string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), def)
	}
	return u.Host
}

// message is the body of test message n: valid, or invalid against the schema (a string
// n) when bad.
func message(n int, bad bool) []byte {
	if bad {
		return fmt.Appendf(nil, `{"type":%q,"data":{"n":"%d"}}`, testType, n)
	}
	return fmt.Appendf(nil, `{"type":%q,"data":{"n":%d}}`, testType, n)
}

// stream is the shape every broker's test shares: n messages, every tenth invalid, sent
// straight to the broker while ingest reads them through a proxy that the test cuts
// three times mid-stream. At the end every message is exactly one event or one dead
// letter.
type stream struct {
	n       int
	invalid int
}

func newStream(n int) stream {
	return stream{n: n, invalid: (n + 9) / 10}
}

func (s stream) bad(i int) bool { return i%10 == 0 }

// cutWhileIngesting runs produce, which sends the messages to the broker, while it cuts
// the proxy each time the stored events pass a quarter of the way.
func cutWhileIngesting(t *testing.T, h *heraldEnv, p *cutProxy, s stream, produce func() error) {
	t.Helper()
	produced := make(chan error, 1)
	go func() { produced <- produce() }()
	defer func() {
		if err := <-produced; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}()
	valid := s.n - s.invalid
	for _, at := range []int{valid / 4, valid / 2, 3 * valid / 4} {
		waitFor(t, 60*time.Second, func() string {
			got, _ := h.events(t)
			return fmt.Sprintf("ingest stalled at %d events, waiting for %d", got, at)
		}, func() bool { got, _ := h.events(t); return got >= at })
		p.cut()
	}
	if p.cuts < 2 {
		t.Fatalf("only %d of 3 cuts closed a connection: the test proved little about reconnecting", p.cuts)
	}
}

// checkCounters checks the source's counters against what the broker and the store hold:
// ingested is exactly the new events; dead-lettered may miss one per cut, a confirmation
// lost with its connection; reconnects saw the cuts.
func checkCounters(t *testing.T, h *heraldEnv, p *cutProxy, source string, events, dead int) {
	t.Helper()
	if got := h.counter(t, "herald_ingest_messages_ingested_total", source); got != float64(events) {
		t.Errorf("ingested counter %v, want %d, the events stored", got, events)
	}
	if got := h.counter(t, "herald_ingest_messages_dead_lettered_total", source); got > float64(dead) || got < float64(dead-p.cuts) {
		t.Errorf("dead-lettered counter %v, want %d, or up to %d fewer", got, dead, p.cuts)
	}
	if got := h.counter(t, "herald_ingest_reconnects_total", source); got < 1 {
		t.Errorf("reconnects counter %v after %d cuts, want at least 1", got, p.cuts)
	}
	t.Logf("%d cuts, %v redelivered, %v reconnects", p.cuts,
		h.counter(t, "herald_ingest_messages_redelivered_total", source), h.counter(t, "herald_ingest_reconnects_total", source))
}
