package dispatch_test

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/wire"
)

// anyIPPort matches an IPv4 or bracketed IPv6 address with a port.
var anyIPPort = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}:\d+|\[[0-9A-Fa-f:.%a-z]+\]:\d+`)

// TestAttemptErrorsNameTheFailureNotAddresses: an attempt that cannot reach its endpoint
// says why in words ("cannot resolve host …", "connection refused"), and its error, which
// the tenant reads, names no address and port: not the name server's (Go's lookup
// errors say "lookup x on 10.0.0.53:53"), nor either end of the connection. Both a
// plain client and the egress guard's transport, which serve runs, are tried, with a
// real lookup of a name that cannot exist, a real port that refuses, and a real TLS
// server whose certificate is not trusted.
func TestAttemptErrorsNameTheFailureNotAddresses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := "http://" + ln.Addr().String() + "/hook"
	ln.Close() // nothing listens there now: connecting is refused

	// A TLS endpoint whose certificate no one vouches for.
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	guard := &egress.Guard{AllowPrivate: true}
	for _, client := range []struct {
		name   string
		client *http.Client
	}{
		{"net/http's transport", &http.Client{}},
		{"the egress guard's transport", &http.Client{Transport: guard.Transport()}},
	} {
		for _, c := range []struct {
			url, want string
		}{
			{"http://herald-leak-test.invalid/hook", "cannot resolve host herald-leak-test.invalid: "},
			{refusing, "connection refused"},
			{untrusted.URL + "/hook", "TLS handshake failed: x509: certificate signed by unknown authority"},
		} {
			t.Run(client.name+" "+c.want, func(t *testing.T) {
				t.Parallel()
				policy := wire.DefaultPolicy(herald.FormatFrugally)
				policy.Timeout = 5 * time.Second
				e := newEnv(t, nil)
				e.d = dispatch.New(dispatch.Config{Store: e.store, Client: client.client, Clock: e.clock,
					Policies: map[herald.Format]wire.Policy{herald.FormatFrugally: policy}})
				e.webhook(c.url, herald.FormatFrugally)
				id := e.publish()[0]
				e.deliverDue(t0)
				d := e.delivery(id)
				if len(d.Attempts) != 1 {
					t.Fatalf("%d attempts, want 1", len(d.Attempts))
				}
				msg := d.Attempts[0].Error
				if !strings.HasPrefix(msg, c.want) {
					t.Errorf("attempt error %q, want it to start %q", msg, c.want)
				}
				if m := anyIPPort.FindString(msg); m != "" {
					t.Errorf("attempt error %q names the address %s", msg, m)
				}
				if d.LastError != msg {
					t.Errorf("the delivery's last error %q is not the attempt's", d.LastError)
				}
			})
		}
	}
}
