package egress_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldhq/herald/egress"
)

// TestCheckURLRefusesDisguisedAddresses: every spelling of a non-public address that
// resolvers, browsers or the kernel accept is read as the address it denotes and
// refused, whatever its form.
func TestCheckURLRefusesDisguisedAddresses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ form, url, want string }{
		{"IPv4-mapped IPv6, dotted", "http://[::ffff:127.0.0.1]/", "127.0.0.1, a loopback address"},
		{"IPv4-mapped IPv6, hex", "http://[::ffff:7f00:1]/", "127.0.0.1, a loopback address"},
		{"IPv4-mapped IPv6, long form", "http://[0:0:0:0:0:ffff:127.0.0.1]/", "127.0.0.1, a loopback address"},
		{"IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/", "a cloud metadata address"},
		{"IPv4-compatible IPv6", "http://[::127.0.0.1]/", "a reserved, non-public address"},
		{"IPv4-translated IPv6", "http://[::ffff:0:7f00:1]/", "a reserved, non-public address"},
		{"NAT64 of metadata", "http://[64:ff9b::a9fe:a9fe]/", "a reserved, non-public address"},
		{"6to4 of loopback", "http://[2002:7f00:1::]/", "a reserved, non-public address"},
		{"decimal", "http://2130706433/", "127.0.0.1, a loopback address"},
		{"decimal private", "http://3232235521/", "192.168.0.1, a private address"},
		{"octal", "http://0177.0.0.1/", "127.0.0.1, a loopback address"},
		{"octal with padding", "http://00000177.1/", "127.0.0.1, a loopback address"},
		{"octal private", "http://0300.0250.0.1/", "192.168.0.1, a private address"},
		{"zero-padded decimal", "http://127.000.000.001/", "127.0.0.1, a loopback address"},
		{"hex", "http://0x7f000001/", "127.0.0.1, a loopback address"},
		{"hex dotted", "http://0x7f.0x0.0x0.0x1/", "127.0.0.1, a loopback address"},
		{"hex metadata", "http://0xA9FEA9FE/", "169.254.169.254, a cloud metadata address"},
		{"short form", "http://127.1/", "127.0.0.1, a loopback address"},
		{"short form, three parts", "http://10.1.1/", "10.1.0.1, a private address"},
		{"short form, trailing dot", "http://127.1./", "127.0.0.1, a loopback address"},
		{"zone on loopback", "http://[::1%25lo]/", "a loopback address"},
		{"zone on link-local", "http://[fe80::1%25eth0]/", "a link-local address"},
		{"zone on mapped loopback", "http://[::ffff:127.0.0.1%25eth0]/", "127.0.0.1, a loopback address"},
		{"zone on a global address", "http://[2606:2800:220:1:248:1893:25c8:1946%25eth0]/", "non-public"},
		{"localhost with trailing dot", "http://localhost./", "loopback name"},
		{"LOCALHOST with trailing dot and port", "http://LOCALHOST.:8080/", "loopback name"},
		{"name under localhost, trailing dot", "http://a.b.localhost./", "loopback name"},
		{"unspecified", "http://0.0.0.0:8080/", "an unspecified address"},
		{"unspecified, one part", "http://0/", "an unspecified address"},
	} {
		t.Run(tt.form, func(t *testing.T) {
			t.Parallel()
			g := &egress.Guard{Resolver: names}
			requireInvalid(t, g.CheckURL(t.Context(), tt.url), tt.want, "--allow-private-networks")
		})
	}
}

// TestTransportRefusesRebindingAtConnectTime: a name that resolved to a public address
// when the webhook was registered and resolves to loopback when Herald delivers is
// refused at connect time, through the very Transport the dispatcher uses, and the
// receiver behind loopback sees no connection at all.
func TestTransportRefusesRebindingAtConnectTime(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	for _, private := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		r := &rebindingResolver{answers: [][]netip.Addr{addrs("93.184.216.34"), addrs(private)}}
		g := &egress.Guard{Resolver: r}
		u := "http://rebind.test:" + srv.port() + "/hook"
		if err := g.CheckURL(t.Context(), u); err != nil {
			t.Fatalf("CheckURL at registration, public answer: %v", err)
		}
		tr := g.Transport()
		resp, err := tr.RoundTrip(mustRequest(t, u))
		if resp != nil {
			_ = resp.Body.Close() // already a failure; closing only tidies up
		}
		requireRefused(t, err)
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("error %q should name the refused address", err)
		}
		tr.CloseIdleConnections()
	}
	srv.requireUntouched(t)
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", u, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
