package egress_test

import (
	"errors"
	"net"
	"regexp"
	"testing"

	"github.com/heraldhq/herald/egress"
)

// ipPort matches an IPv4 or bracketed IPv6 address with a port, as Go's errors name the
// name server and the ends of a connection.
var ipPort = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}:\d+|\[[0-9A-Fa-f:.%a-z]+\]:\d+`)

// TestDialContextHidesTheNameServer resolves a name that cannot exist (.invalid, RFC
// 6761) with this machine's real resolver: the dial's error says the lookup failed and
// stays a *net.DNSError, but does not name the name server, whose address is Herald's
// network and reaches tenants in their attempt logs.
func TestDialContextHidesTheNameServer(t *testing.T) {
	t.Parallel()
	const host = "herald-leak-test.invalid"
	_, raw := net.DefaultResolver.LookupNetIP(t.Context(), "ip", host)
	var rawDNS *net.DNSError
	if !errors.As(raw, &rawDNS) || rawDNS.Server == "" {
		t.Skipf("this machine's resolver names no server in its errors (%v): nothing to hide", raw)
	}

	g := &egress.Guard{}
	_, err := g.DialContext(t.Context(), "tcp", net.JoinHostPort(host, "80"))
	if err == nil {
		t.Fatalf("dialling %s succeeded", host)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || dnsErr.Name != host {
		t.Errorf("error %v is not the lookup's *net.DNSError", err)
	}
	if m := ipPort.FindString(err.Error()); m != "" {
		t.Errorf("error %q names the address %s (the resolver's was %s)", err, m, rawDNS.Server)
	}
}
