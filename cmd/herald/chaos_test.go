package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench"
)

// chaosTimeout is the attempt timeout the chaos test runs Herald with: short, so the
// endpoints that hang or trickle are cut off quickly.
const chaosTimeout = 2 * time.Second

// chaosGigabyte is the size of the body the gigabyte endpoint promises and streams.
const chaosGigabyte = 1 << 30

// chaosEndpoint is one receiver of the chaos test: what it does, and how the attempt
// log must describe every attempt at it.
type chaosEndpoint struct {
	name    string
	url     string
	success bool   // whether its attempts count as delivered (a 2xx status line)
	status  int    // the status code logged, 0 when no response arrived
	error   string // a substring every attempt's error has
}

// TestChaosReceivers runs one `herald serve` against a row of hostile receivers (one
// answers 500, one hangs past the timeout, one resets the connection, two redirect to a
// private address, one trickles its whole response a byte a second, one trickles its
// body, one streams a 1 GB body, two answer malformed HTTP, one breaks its
// Content-Length, one answers 410 Gone) and two healthy ones, all subscribed to the same
// events published at a steady rate. It checks that:
//
//   - every attempt at a hostile receiver ends as the format's rules say (failed and
//     retried on the schedule; a 2xx status line is a success; 410 disables a standard
//     webhook), within the attempt timeout, with an error that says what happened;
//   - no redirect is followed: the redirect target never sees a request;
//   - of the gigabyte, Herald reads no more than socket buffers' worth and closes;
//   - the healthy receivers get every event promptly (p99 of publish to arrival under
//     a second) and the server's peak RSS stays under 150 MB.
//
// It logs the healthy receivers' p99 and the peak RSS.
func TestChaosReceivers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a real server against hostile receivers")
	}
	bin := buildHerald(t)

	// The redirect target: a request here would mean a redirect was followed.
	var trapHits atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trapHits.Add(1) }))
	t.Cleanup(trap.Close)

	var gigabytes, gigabytesSent atomic.Int64 // responses started and sent whole
	var mostOfAGigabyte atomic.Int64          // the most bytes one response got out
	handler := func(f http.HandlerFunc) string {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	endpoints := []chaosEndpoint{
		{name: "server error", status: 500, error: "endpoint answered 500 Internal Server Error",
			url: handler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })},
		{name: "hang", error: fmt.Sprintf("timed out: no response within %s", chaosTimeout),
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				// Reading the body to its end is what lets net/http notice the client
				// hang up, which ends the request's context.
				io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			})},
		{name: "reset", error: "connection reset by peer",
			url: rawChaosServer(t, func(conn *net.TCPConn) {
				conn.SetLinger(0) // Close sends RST instead of FIN
				conn.Close()
			})},
		{name: "redirect to loopback", status: 302, error: fmt.Sprintf("redirect not followed: 302 to %q", trap.URL+"/"),
			url: handler(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, trap.URL+"/", http.StatusFound) })},
		{name: "redirect to metadata", status: 307, error: `redirect not followed: 307 to "http://169.254.169.254/latest/meta-data/"`,
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
			})},
		{name: "trickle", error: fmt.Sprintf("timed out: no response within %s", chaosTimeout),
			url: rawChaosServer(t, func(conn *net.TCPConn) {
				trickleBytes(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", time.Second)
			})},
		{name: "trickle body", status: 500, error: fmt.Sprintf("endpoint answered 500 Internal Server Error; response body cut off at the %s timeout", chaosTimeout),
			url: rawChaosServer(t, func(conn *net.TCPConn) {
				if _, err := io.WriteString(conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 60\r\n\r\n"); err == nil {
					trickleBytes(conn, strings.Repeat("z", 60), time.Second)
				}
			})},
		{name: "gigabyte body", status: 500,
			error: fmt.Sprintf("endpoint answered 500 Internal Server Error; response body of %d bytes truncated at 4096", chaosGigabyte),
			url: handler(func(w http.ResponseWriter, r *http.Request) {
				gigabytes.Add(1)
				w.Header().Set("Content-Length", strconv.Itoa(chaosGigabyte))
				w.WriteHeader(http.StatusInternalServerError)
				n, err := io.Copy(w, &generatedBody{left: chaosGigabyte})
				if err == nil {
					gigabytesSent.Add(1)
				}
				for m := mostOfAGigabyte.Load(); n > m && !mostOfAGigabyte.CompareAndSwap(m, n); m = mostOfAGigabyte.Load() {
				}
			})},
		{name: "malformed status line", error: "malformed HTTP response",
			url: rawChaosServer(t, func(conn *net.TCPConn) { io.WriteString(conn, "HTTP/1.1 2OO OKAY\r\n\r\n") })},
		{name: "malformed header", error: "malformed HTTP response",
			url: rawChaosServer(t, func(conn *net.TCPConn) {
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Bad\x00Header: \x01\r\nContent-Length: 0\r\n\r\n")
			})},
		{name: "short body", success: true, status: 200,
			error: "response body incomplete: the connection closed after 10 of the 100 bytes its Content-Length promised",
			url: rawChaosServer(t, func(conn *net.TCPConn) {
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")
			})},
		{name: "gone", status: 410, error: "endpoint answered 410 Gone",
			url: handler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })},
	}
	healthy := []*arrivals{newArrivals(t, "standard"), newArrivals(t, "frugally")}

	p := startProcess(t, bin, t.TempDir(), "--attempt-timeout", chaosTimeout.String(),
		"--retry-schedule", "500ms,30s", "--poll-interval", "50ms")
	hookIDs := map[string]string{} // endpoint name → webhook id
	for _, e := range endpoints {
		var wh webhookResource
		if code := api(t, p.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": e.name, "url": e.url, "format": "standard",
		}, &wh); code != 201 {
			t.Fatalf("create webhook %s: %d", e.name, code)
		}
		hookIDs[e.name] = wh.ID
	}
	for _, h := range healthy {
		if code := api(t, p.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": "healthy " + h.format, "url": h.URL, "format": h.format,
		}, nil); code != 201 {
			t.Fatalf("create healthy webhook: %d", code)
		}
	}

	// Publish at a steady rate while the hostile receivers do their worst; the first
	// event is the probe whose attempts are checked against the retry schedule.
	const rate, duration = 10, 8 * time.Second
	published := map[string]time.Time{} // event id → when its publish began
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := 0; i < int(duration.Seconds())*rate; i++ {
		id := fmt.Sprintf("evt_chaos_%d", i)
		if i == 0 {
			id = "evt_chaos_probe"
		}
		start := time.Now()
		if code := api(t, p.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"id": id, "type": "schedule.paused", "data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
		}, nil); code != 202 {
			t.Fatalf("publish %s: %d", id, code)
		}
		published[id] = start
		<-tick.C
	}

	// The healthy receivers got every event, promptly.
	for _, h := range healthy {
		if !waitUntil(10*time.Second, func() bool { return h.count() >= len(published) }) {
			t.Fatalf("healthy %s receiver got %d of %d events", h.format, h.count(), len(published))
		}
	}
	var latencies []time.Duration
	for _, h := range healthy {
		for id, at := range published {
			latencies = append(latencies, h.FirstArrival(id).Sub(at))
		}
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	if p99 > time.Second {
		t.Errorf("healthy receivers' p99 publish-to-arrival latency is %s while the hostile ones misbehave, want under 1s", p99)
	}

	if n := trapHits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests: a redirect was followed", n)
	}

	// The probe has made its first attempt and its first retry at every failing
	// receiver, and waits for the second retry.
	probes := map[string]chaosDelivery{}
	var lagging []string
	if !waitUntil(20*time.Second, func() bool {
		var ds []chaosDelivery
		api(t, p.URL, "GET", "/api/v1/deliveries?event_id=evt_chaos_probe&per_page=100", testAdminKey, nil, &ds)
		for _, d := range ds {
			probes[d.WebhookID] = d
		}
		lagging = nil
		for _, e := range endpoints {
			d := probes[hookIDs[e.name]]
			if !e.success && e.name != "gone" && len(d.Attempts) < 2 {
				lagging = append(lagging, fmt.Sprintf("%s (%s after %d attempts)", e.name, d.Status, len(d.Attempts)))
			}
		}
		return len(lagging) == 0
	}) {
		t.Fatalf("20s after publishing, the probe event has not had its first retry at: %s", strings.Join(lagging, ", "))
	}

	for _, e := range endpoints {
		t.Run(e.name, func(t *testing.T) {
			var ds []chaosDelivery
			api(t, p.URL, "GET", "/api/v1/deliveries?per_page=100&webhook_id="+hookIDs[e.name], testAdminKey, nil, &ds)
			attempts, example := 0, ""
			for _, d := range ds {
				for _, a := range d.Attempts {
					attempts++
					example = a.Error
					if a.Success != e.success || a.StatusCode != e.status || !strings.Contains(a.Error, e.error) {
						t.Fatalf("delivery %s attempt %d: success %v status %d error %q; want success %v status %d error containing %q",
							d.ID, a.Number, a.Success, a.StatusCode, a.Error, e.success, e.status, e.error)
					}
					// The timeout bounds the whole attempt, the body read included.
					if a.DurationMS > (chaosTimeout + time.Second).Milliseconds() {
						t.Errorf("delivery %s attempt %d took %d ms, past the %s timeout", d.ID, a.Number, a.DurationMS, chaosTimeout)
					}
				}
			}
			if attempts == 0 {
				t.Fatalf("no attempt logged")
			}
			switch {
			case e.name == "gone":
				var wh webhookResource
				api(t, p.URL, "GET", "/api/v1/webhooks/"+hookIDs[e.name], testAdminKey, nil, &wh)
				if wh.Enabled || !strings.Contains(wh.DisabledReason, "410") {
					t.Errorf("after 410 Gone the standard webhook is enabled %v (%q), want disabled for the 410", wh.Enabled, wh.DisabledReason)
				}
				for _, d := range ds {
					if d.Status != "failed" || len(d.Attempts) > 1 {
						t.Errorf("delivery %s to a gone endpoint: %s after %d attempts, want failed after at most 1", d.ID, d.Status, len(d.Attempts))
					}
				}
			case e.success:
				if d := probes[hookIDs[e.name]]; d.Status != "success" || len(d.Attempts) != 1 {
					t.Errorf("probe: %s after %d attempts, want success after 1", d.Status, len(d.Attempts))
				}
			default:
				checkRetrySchedule(t, probes[hookIDs[e.name]], 500*time.Millisecond, 30*time.Second)
			}
			t.Logf("%d deliveries, %d attempts, each: %q", len(ds), attempts, example)
		})
	}

	if gigabytes.Load() == 0 || gigabytesSent.Load() != 0 {
		t.Errorf("gigabyte responses: %d started, %d sent whole; want some started and none read to the end", gigabytes.Load(), gigabytesSent.Load())
	}
	if n := mostOfAGigabyte.Load(); n > 32<<20 {
		t.Errorf("one gigabyte response got %d bytes out before Herald closed it, want at most socket buffers' worth (32 MiB)", n)
	}
	rss := peakRSS(t, p.cmd.Process.Pid)
	if rss > 150<<20 {
		t.Errorf("herald's peak RSS is %d MiB after the chaos, want under 150 MiB", rss>>20)
	}
	t.Logf("chaos: %d events to %d hostile and %d healthy receivers; healthy p99 %s (max %s) over %d deliveries; %d gigabyte bodies, at most %d KiB of one sent; peak RSS %d MiB",
		len(published), len(endpoints), len(healthy), p99.Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond),
		len(latencies), gigabytes.Load(), mostOfAGigabyte.Load()>>10, rss>>20)
}

// checkRetrySchedule checks that delivery d made its first attempt, then its first
// retry no sooner than first (less standard's 20 % jitter), and now waits second (±20 %)
// after that retry began.
func checkRetrySchedule(t *testing.T, d chaosDelivery, first, second time.Duration) {
	t.Helper()
	if d.Status != "pending" || len(d.Attempts) != 2 || d.NextAttemptAt == nil {
		t.Fatalf("probe: %s after %d attempts, next at %v; want pending after 2 with a next attempt", d.Status, len(d.Attempts), d.NextAttemptAt)
	}
	// Delays count from the end of an attempt; the end is known to the millisecond, and
	// its record commits a moment later.
	ended := func(i int) time.Time {
		return d.Attempts[i].At.Add(time.Duration(d.Attempts[i].DurationMS) * time.Millisecond)
	}
	const slack = 100 * time.Millisecond
	if gap := d.Attempts[1].At.Sub(ended(0)); gap < first*8/10 {
		t.Errorf("probe: first retry %s after the first attempt ended, want at least %s", gap, first*8/10)
	}
	if wait := d.NextAttemptAt.Sub(ended(1)); wait < second*8/10 || wait > second*12/10+slack {
		t.Errorf("probe: second retry due %s after the second attempt ended, want %s ±20%%", wait, second)
	}
}

// chaosDelivery is the part of a delivery the chaos test reads.
type chaosDelivery struct {
	ID            string     `json:"id"`
	WebhookID     string     `json:"webhook_id"`
	Status        string     `json:"status"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	Attempts      []struct {
		Number     int       `json:"number"`
		At         time.Time `json:"at"`
		StatusCode int       `json:"status_code"`
		DurationMS int64     `json:"duration_ms"`
		Success    bool      `json:"success"`
		Error      string    `json:"error"`
	} `json:"attempts"`
}

// rawChaosServer listens on loopback and, for each connection, reads one request in
// full and hands the connection to answer, which may write anything or nothing: it
// plays the receivers a correct HTTP server cannot. It returns the endpoint's URL.
func rawChaosServer(t *testing.T, answer func(conn *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // the listener is closed: the test is over
			}
			wg.Go(func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
				answer(conn.(*net.TCPConn))
			})
		}
	})
	return "http://" + ln.Addr().String() + "/hook"
}

// trickleBytes writes s to conn one byte every interval, until it is written or a write
// fails because the other side closed.
func trickleBytes(conn net.Conn, s string, interval time.Duration) {
	for i := range len(s) {
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

// generatedBody is a body of left bytes made up as it is read, so a gigabyte costs no
// more memory than one read's buffer.
type generatedBody struct{ left int64 }

func (g *generatedBody) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), g.left)
	for i := range n {
		p[i] = 'x'
	}
	g.left -= n
	return int(n), nil
}

// arrivals is a healthy receiver of one format: the benchmark's receiver, which answers
// 204 at once and remembers when each event first arrived.
type arrivals struct {
	*bench.Receiver
	format string
}

func newArrivals(t *testing.T, format string) *arrivals {
	t.Helper()
	rc, err := bench.StartReceiver(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return &arrivals{Receiver: rc, format: format}
}

func (rc *arrivals) count() int {
	events, _ := rc.Distinct()
	return events
}

var vmHWM = regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`)

// peakRSS returns the peak resident set size of process pid (Linux: VmHWM), skipping
// the test where /proc is not there to tell.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read the server's peak memory: %v", err)
	}
	m := vmHWM.FindSubmatch(status)
	if m == nil {
		t.Skipf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64) // the pattern admits only digits
	return kb << 10
}
