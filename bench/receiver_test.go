package bench

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// post sends body to url with the standard format's webhook-id header when id is set,
// and returns the status (0 and the error when there was no answer).
func post(t *testing.T, client *http.Client, url, id, body string) (int, error) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.Header.Set("webhook-id", id)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	drainBody(resp)
	return resp.StatusCode, nil
}

// TestReceiverCounts counts arrivals per event, by the webhook-id header or else the
// body's id, leaves pings out, and times the expected events.
func TestReceiverCounts(t *testing.T) {
	t.Parallel()
	r, err := StartReceiver(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	c := &http.Client{Timeout: 10 * time.Second}
	r.Expect("evt_a", time.Now(), 2)
	for _, req := range []struct{ id, body string }{
		{"evt_a", `{"type":"drift.resolved","data":{}}`},         // standard
		{"", `{"id":"evt_a","type":"drift.resolved","data":{}}`}, // frugally
		{"", `{"id":"evt_a","type":"drift.resolved","data":{}}`}, // a third time: a duplicate
		{"", `{"id":"evt_b","type":"drift.resolved","data":{}}`},
		{"evt_p", `{"type":"ping","timestamp":"2024-01-15T15:00:00Z","data":{}}`},
		{"", `{"id":"evt_q","type":"ping","data":{}}`},
		{"", `not json`},
	} {
		if status, err := post(t, c, r.URL+"/x", req.id, req.body); err != nil || status != http.StatusNoContent {
			t.Fatalf("post %q: %d %v, want 204", req.body, status, err)
		}
	}
	if events, dups := r.Distinct(); events != 2 || dups != 2 {
		t.Errorf("Distinct = %d events, %d duplicates; want 2 and 2 (pings apart)", events, dups)
	}
	if !r.Arrived("evt_b") || r.Arrived("evt_p") || r.Arrived("evt_c") {
		t.Errorf("Arrived: evt_b %v, ping %v, evt_c %v; want true, false, false", r.Arrived("evt_b"), r.Arrived("evt_p"), r.Arrived("evt_c"))
	}
	if first := r.FirstArrival("evt_a"); first.IsZero() || first.After(time.Now()) {
		t.Errorf("FirstArrival(evt_a) = %v, want a moment before now", first)
	}
	if !r.FirstArrival("evt_p").IsZero() {
		t.Error("FirstArrival of a ping is set, want the zero time")
	}
	if got := r.Answered(); got != 7 {
		t.Errorf("Answered = %d, want 7", got)
	}
	if err := r.WaitReceived(t.Context(), 2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := r.Received(); got != 2 {
		t.Errorf("Received = %d, want the 2 expected of evt_a, not its duplicate", got)
	}
	r.Reset()
	if events, _ := r.Distinct(); events != 0 || r.Received() != 0 {
		t.Errorf("after Reset: %d events, %d received; want none", events, r.Received())
	}
}

// TestReceiverPaths answers 503 under /down/, never under /hang/, and after its delay
// elsewhere.
func TestReceiverPaths(t *testing.T) {
	t.Parallel()
	const delay = 50 * time.Millisecond
	r, err := StartReceiver(delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	c := &http.Client{Timeout: 10 * time.Second}
	if status, err := post(t, c, r.URL+"/down/1", "evt_d", "{}"); err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("/down/: %d %v, want 503", status, err)
	}
	start := time.Now()
	if status, err := post(t, c, r.URL+"/up/1", "evt_u", "{}"); err != nil || status != http.StatusNoContent {
		t.Errorf("/up/: %d %v, want 204", status, err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("answered in %v, before its %v delay", took, delay)
	}
	impatient := &http.Client{Timeout: 200 * time.Millisecond}
	if status, err := post(t, impatient, r.URL+"/hang/1", "evt_h", "{}"); err == nil {
		t.Errorf("/hang/ answered %d, want no answer until the client gives up", status)
	}
	if r.Arrived("evt_d") || r.Arrived("evt_h") || !r.Arrived("evt_u") {
		t.Error("only the 2xx answer counts as an arrival")
	}
}

// TestBlackHole accepts a request's connection and never answers it.
func TestBlackHole(t *testing.T) {
	t.Parallel()
	h, err := startBlackHole()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", h.url+"/1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		drainBody(resp)
		t.Fatalf("the black hole answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the request ended with %v, want the sender's own deadline (the connection accepted, never answered)", err)
	}
}
