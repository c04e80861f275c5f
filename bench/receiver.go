package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver is a webhook endpoint on loopback, for benchmarks and for tests that count
// what arrives. It answers 204 (after its delay), counts the arrivals of each event
// (pings apart), and times the events it was told to Expect. Paths under /hang/ never
// answer: they wait until the sender gives up. Paths under /down/ answer 503.
//
// An arrival's event is the standard format's webhook-id header, or else the "id" of
// its JSON body (the frugally format).
type Receiver struct {
	// URL is the receiver's base URL, http://127.0.0.1:<port>.
	URL string

	srv      *http.Server
	delay    time.Duration
	answered atomic.Int64 // 2xx answers, pings included

	mu       sync.Mutex
	arrivals map[string]*arrival     // event id → its 2xx arrivals, pings excluded
	expected map[string]*expectation // event id → what is expected of it
	receipts []receipt               // matched arrivals, in order
	changed  chan struct{}           // signalled (not closed) on each matched arrival
}

// arrival is how many times an event arrived, and when first.
type arrival struct {
	n     int
	first time.Time
}

// expectation is an event the receiver waits for: when it was (meant to be) published
// and how many deliveries of it are due.
type expectation struct {
	at        time.Time
	want, got int
}

// receipt is one matched arrival: when, and how long after its event's publish.
type receipt struct {
	at      time.Time
	latency time.Duration
	path    string
}

// StartReceiver starts a Receiver on a free loopback port that takes delay over each
// answer. Close stops it.
func StartReceiver(delay time.Duration) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &Receiver{
		URL: "http://" + ln.Addr().String(), delay: delay,
		arrivals: map[string]*arrival{}, expected: map[string]*expectation{}, changed: make(chan struct{}, 1),
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = r.srv.Serve(ln) }() // ends with ErrServerClosed at Close
	return r, nil
}

// Close stops the receiver; requests still hanging end with it.
func (r *Receiver) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx) // hung handlers end with their requests
	_ = r.srv.Close()
}

// bodies recycles the buffers request bodies are read into.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// pingType marks a ping in the standard and frugally envelopes, which Herald writes
// without spaces.
var pingType = []byte(`"type":"ping"`)

// ServeHTTP answers 204 after the delay, except under /hang/ and /down/.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(body)
	body.Reset()
	_, _ = io.Copy(body, req.Body) // a delivery body is small; a failed read leaves it cut, and unmatched
	switch {
	case strings.HasPrefix(req.URL.Path, "/hang/"):
		<-req.Context().Done()
		return
	case strings.HasPrefix(req.URL.Path, "/down/"):
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
	r.answered.Add(1)
	if bytes.Contains(body.Bytes(), pingType) {
		return
	}
	id := req.Header.Get("webhook-id")
	if id == "" {
		var envelope struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body.Bytes(), &envelope) != nil {
			return // not an envelope with an id: nothing to count it under
		}
		id = envelope.ID
	}
	r.mu.Lock()
	if a := r.arrivals[id]; a != nil {
		a.n++
	} else {
		r.arrivals[id] = &arrival{n: 1, first: now}
	}
	e := r.expected[id]
	if e != nil && e.got < e.want {
		e.got++
		r.receipts = append(r.receipts, receipt{at: now, latency: now.Sub(e.at), path: req.URL.Path})
	}
	r.mu.Unlock()
	if e != nil {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// Answered returns how many 2xx answers the receiver gave, pings included.
func (r *Receiver) Answered() int64 { return r.answered.Load() }

// Arrived reports whether event id arrived at least once.
func (r *Receiver) Arrived(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arrivals[id] != nil
}

// FirstArrival returns when event id first arrived; the zero time if it has not.
func (r *Receiver) FirstArrival(id string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.arrivals[id]; a != nil {
		return a.first
	}
	return time.Time{}
}

// Distinct returns how many events arrived and how many arrivals were repeats.
func (r *Receiver) Distinct() (events, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.arrivals {
		duplicates += a.n - 1
	}
	return len(r.arrivals), duplicates
}

// Expect registers an event published (or scheduled to be) at at, due to arrive want
// times: its arrivals are timed from at.
func (r *Receiver) Expect(id string, at time.Time, want int) {
	r.mu.Lock()
	r.expected[id] = &expectation{at: at, want: want}
	r.mu.Unlock()
}

// Reset forgets every arrival, expectation and receipt, between scenarios.
func (r *Receiver) Reset() {
	r.mu.Lock()
	r.arrivals = map[string]*arrival{}
	r.expected = map[string]*expectation{}
	r.receipts = nil
	r.mu.Unlock()
}

// Received returns how many expected arrivals are in.
func (r *Receiver) Received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.receipts)
}

// snapshot returns a copy of the receipts.
func (r *Receiver) snapshot() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.receipts...)
}

// WaitReceived waits until n expected arrivals are in, or timeout passes (an error
// saying how many came).
func (r *Receiver) WaitReceived(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := r.Received(); got >= n {
			return nil
		}
		select {
		case <-r.changed:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the receiver got %d of %d deliveries in %s", r.Received(), n, timeout)
		}
	}
}
