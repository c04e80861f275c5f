package dispatch_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// rawEndpoint is a TCP listener that reads each request in full and then lets answer
// do what it likes with the connection: write bytes no HTTP server would, stall, or
// reset. It stands in for receivers that are broken or hostile, which httptest.Server,
// being a correct HTTP server, cannot play.
type rawEndpoint struct {
	URL     string
	written atomic.Int64 // bytes answer wrote, across connections
	closed  chan error   // the error that ended each answer, nil when it returned
}

func newRawEndpoint(t *testing.T, answer func(conn net.Conn, w io.Writer) error) *rawEndpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &rawEndpoint{URL: "http://" + ln.Addr().String() + "/hook", closed: make(chan error, 100)}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
				err = answer(conn, &countingWriter{w: conn, n: &e.written, done: done})
				select {
				case e.closed <- err:
				default:
				}
			}()
		}
	}()
	return e
}

// countingWriter counts what it writes and fails once the test is over, so a
// generator never outlives its test.
type countingWriter struct {
	w    io.Writer
	n    *atomic.Int64
	done chan struct{}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, io.ErrClosedPipe
	default:
	}
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// trickle writes s one byte at a time, a byte every interval.
func trickle(w io.Writer, s string, interval time.Duration) error {
	for i := range len(s) {
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return err
		}
		time.Sleep(interval)
	}
	return nil
}

// endless is a reader of n bytes of 'x' that allocates only its buffer: a body of any
// size, produced as it is read.
type endless struct{ left int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.left)
	for i := range n {
		p[i] = 'x'
	}
	e.left -= n
	return int(n), nil
}

// TestHostileEndpoints sends one attempt to each kind of broken or hostile receiver and
// checks that it ends in time, with the outcome the status line (or its absence) calls
// for, a log line that says what happened, and no more of the body read than is kept.
func TestHostileEndpoints(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	const gigabyte = 1 << 30
	cases := []struct {
		name    string
		answer  func(conn net.Conn, w io.Writer) error
		success bool
		status  int
		error   string // a substring of the attempt's error
		after   func(t *testing.T, ep *rawEndpoint)
	}{
		{
			name: "reset before answering",
			answer: func(conn net.Conn, _ io.Writer) error {
				conn.(*net.TCPConn).SetLinger(0) // close sends RST, not FIN
				return conn.Close()
			},
			error: "connection reset by peer",
		},
		{
			name: "reset in the body",
			answer: func(conn net.Conn, w io.Writer) error {
				if _, err := io.WriteString(w, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\nonly ten!!"); err != nil {
					return err
				}
				time.Sleep(timeout / 5) // let the status line be read before the reset
				conn.(*net.TCPConn).SetLinger(0)
				return conn.Close()
			},
			status: 500,
			error:  "endpoint answered 500 Internal Server Error; response body cut off: connection reset by peer",
		},
		{
			name:   "closed before answering",
			answer: func(conn net.Conn, _ io.Writer) error { return conn.Close() },
			error:  "connection closed by the endpoint before it answered",
		},
		{
			name: "garbage status line",
			answer: func(_ net.Conn, w io.Writer) error {
				_, err := io.WriteString(w, "HELLO I AM NOT HTTP\r\n\r\n")
				return err
			},
			error: "malformed HTTP response",
		},
		{
			name: "invalid header bytes",
			answer: func(_ net.Conn, w io.Writer) error {
				_, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Bad\x00Name: y\r\nContent-Length: 0\r\n\r\n")
				return err
			},
			error: "malformed HTTP response",
		},
		{
			name: "content length mismatch",
			answer: func(_ net.Conn, w io.Writer) error {
				_, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")
				return err
			},
			success: true, status: 200,
			error: "response body incomplete: the connection closed after 10 of the 100 bytes its Content-Length promised",
		},
		{
			name: "trickled status line",
			answer: func(_ net.Conn, w io.Writer) error {
				return trickle(w, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", timeout/5)
			},
			error: "no response within 500ms",
		},
		{
			name: "trickled body",
			answer: func(_ net.Conn, w io.Writer) error {
				if _, err := io.WriteString(w, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n"); err != nil {
					return err
				}
				return trickle(w, strings.Repeat("z", 100), timeout/5)
			},
			status: 503,
			error:  "endpoint answered 503 Service Unavailable; response body cut off at the 500ms timeout",
		},
		{
			name: "one gigabyte body",
			answer: func(_ net.Conn, w io.Writer) error {
				if _, err := fmt.Fprintf(w, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n", gigabyte); err != nil {
					return err
				}
				_, err := io.Copy(w, &endless{left: gigabyte})
				return err
			},
			status: 500,
			error:  fmt.Sprintf("endpoint answered 500 Internal Server Error; response body of %d bytes truncated at %d", gigabyte, herald.MaxResponseBody),
			after: func(t *testing.T, ep *rawEndpoint) {
				// Herald reads what it keeps plus a little and closes: the generator's
				// writes fail once the socket buffers are full, long before a gigabyte.
				select {
				case err := <-ep.closed:
					if err == nil {
						t.Fatalf("the endpoint wrote its whole gigabyte: Herald read it all")
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("the endpoint is still writing 5s after the attempt (%d bytes so far): Herald did not close the connection", ep.written.Load())
				}
				if n := ep.written.Load(); n > 32<<20 {
					t.Errorf("the endpoint wrote %d bytes before Herald closed the connection, want at most socket buffers' worth (32 MiB)", n)
				}
				t.Logf("the endpoint wrote %d bytes of its gigabyte before the connection closed", ep.written.Load())
			},
		},
		{
			name: "redirect to the metadata address",
			answer: func(_ net.Conn, w io.Writer) error {
				_, err := io.WriteString(w, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n")
				return err
			},
			status: 307,
			error:  `redirect not followed: 307 to "http://169.254.169.254/latest/meta-data/"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policy := wire.DefaultPolicy(herald.FormatFrugally)
			policy.Timeout = timeout
			e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatFrugally: policy})
			ep := newRawEndpoint(t, tc.answer)
			e.webhook(ep.URL, herald.FormatFrugally)
			id := e.publish()[0]

			start := time.Now()
			e.deliverDue(t0)
			took := time.Since(start)
			d := e.delivery(id)
			if len(d.Attempts) != 1 {
				t.Fatalf("%d attempts logged, want 1", len(d.Attempts))
			}
			a := d.Attempts[0]
			t.Logf("attempt: success %v status %d after %s: %q", a.Success, a.StatusCode, took.Round(time.Millisecond), a.Error)
			if a.Success != tc.success || a.StatusCode != tc.status || !strings.Contains(a.Error, tc.error) {
				t.Errorf("attempt: success %v status %d error %q; want success %v status %d error containing %q",
					a.Success, a.StatusCode, a.Error, tc.success, tc.status, tc.error)
			}
			// The timeout bounds the whole attempt, reading the body included; the margin
			// is for recording it.
			if took > timeout+time.Second {
				t.Errorf("the attempt took %s, more than its %s timeout allows", took, timeout)
			}
			wantStatus := herald.StatusPending // frugally retries a failure a minute later
			if tc.success {
				wantStatus = herald.StatusSuccess
			}
			if d.Status != wantStatus {
				t.Errorf("delivery is %s, want %s", d.Status, wantStatus)
			}
			if !tc.success && (d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0.Add(policy.Schedule[0]))) {
				t.Errorf("next attempt at %v, want the schedule's first delay after the attempt, %s", d.NextAttemptAt, t0.Add(policy.Schedule[0]))
			}
			if len(a.ResponseBody) > herald.MaxResponseBody {
				t.Errorf("kept %d bytes of response body, more than %d", len(a.ResponseBody), herald.MaxResponseBody)
			}
			if tc.after != nil {
				tc.after(t, ep)
			}
		})
	}
}
