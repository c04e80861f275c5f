package dispatch_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// TestEndpointTextInErrorsIsBounded: what an endpoint chooses to send (a redirect's
// Location, a header line net/http cannot parse) is quoted in the attempt's error, which
// is also the delivery's last error, only in part: a few hundred bytes of valid UTF-8
// ending in "…", not the 60 KiB the endpoint sent.
func TestEndpointTextInErrorsIsBounded(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("é", 30<<10) // 60 KiB of two-byte runes, so a cut can split one
	for _, tc := range []struct {
		name   string
		answer string
		status int
		prefix string
	}{
		{
			name:   "redirect Location",
			answer: "HTTP/1.1 302 Found\r\nLocation: http://x/" + huge + "\r\nContent-Length: 0\r\n\r\n",
			status: 302,
			prefix: `redirect not followed: 302 to "http://x/éé`,
		},
		{
			name:   "malformed header line",
			answer: "HTTP/1.1 200 OK\r\n" + huge + "\r\nContent-Length: 0\r\n\r\n",
			prefix: "malformed HTTP response: malformed MIME header",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policy := wire.DefaultPolicy(herald.FormatFrugally)
			policy.Timeout = 5 * time.Second
			e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatFrugally: policy})
			ep := newRawEndpoint(t, func(_ net.Conn, w io.Writer) error {
				_, err := io.WriteString(w, tc.answer)
				return err
			})
			e.webhook(ep.URL, herald.FormatFrugally)
			id := e.publish()[0]
			e.deliverDue(t0)
			d := e.delivery(id)
			if len(d.Attempts) != 1 {
				t.Fatalf("%d attempts logged, want 1", len(d.Attempts))
			}
			a := d.Attempts[0]
			if a.StatusCode != tc.status || !strings.HasPrefix(a.Error, tc.prefix) {
				t.Errorf("attempt: status %d error %.120q…; want status %d and an error starting %q", a.StatusCode, a.Error, tc.status, tc.prefix)
			}
			if len(a.Error) > 512 || !utf8.ValidString(a.Error) || !strings.Contains(a.Error, "…") {
				t.Errorf("attempt error is %d bytes (valid UTF-8: %v), want at most 512 of valid UTF-8 marked cut with …: %.120q",
					len(a.Error), utf8.ValidString(a.Error), a.Error)
			}
			if d.LastError != a.Error {
				t.Errorf("the delivery's last error %.80q… is not the attempt's", d.LastError)
			}
		})
	}
}

// TestCallersDeadlineIsNotTheAttemptTimeout: when the context of whoever asked for the
// attempt (an API request) ends first, the attempt's error says so rather than blaming
// the attempt timeout, which had not passed.
func TestCallersDeadlineIsNotTheAttemptTimeout(t *testing.T) {
	t.Parallel()
	policy := wire.DefaultPolicy(herald.FormatFrugally)
	policy.Timeout = 10 * time.Second
	e := newEnv(t, map[herald.Format]wire.Policy{herald.FormatFrugally: policy})
	// A 200 whose body trickles: the status line decides, so the attempt is a success
	// and is recorded with a note on the body that was cut off.
	ep := newRawEndpoint(t, func(_ net.Conn, w io.Writer) error {
		if _, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"); err != nil {
			return err
		}
		return trickle(w, strings.Repeat("z", 100), 100*time.Millisecond)
	})
	e.webhook(ep.URL, herald.FormatFrugally)
	id := e.publish()[0]

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	a, err := e.d.DeliverNow(ctx, id)
	if err != nil {
		t.Fatalf("DeliverNow: %v", err)
	}
	want := fmt.Sprintf("response body cut off: stopped by the deadline of the request that asked for it, before the attempt's %s timeout", policy.Timeout)
	if !a.Success || a.Error != want {
		t.Errorf("attempt: success %v error %q; want success with error %q", a.Success, a.Error, want)
	}
}
