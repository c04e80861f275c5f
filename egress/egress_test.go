package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/egress"
)

// fakeResolver answers from a map and never touches the network; an unknown name is
// "no such host", as a real resolver reports it.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	addrs, ok := r[strings.ToLower(strings.TrimSuffix(host, "."))]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		if network == "ip" || network == "ip4" && a.Unmap().Is4() || network == "ip6" && !a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	return out, nil
}

// failingResolver fails every lookup with an error that is not a DNSError.
type failingResolver struct{}

func (failingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("resolver exploded")
}

// rebindingResolver answers each lookup with the next entry of answers, then repeats the
// last: a name whose DNS answer changes between registration and delivery.
type rebindingResolver struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	calls   int
}

func (r *rebindingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.answers[min(r.calls, len(r.answers)-1)]
	r.calls++
	return a, nil
}

// countingResolver counts lookups and answers none.
type countingResolver struct{ calls atomic.Int32 }

func (r *countingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.calls.Add(1)
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

var names = fakeResolver{
	"evil.test":                addrs("127.0.0.1"),
	"good.test":                addrs("93.184.216.34"),
	"good6.test":               addrs("2606:2800:220:1:248:1893:25c8:1946"),
	"mapped-good.test":         addrs("::ffff:93.184.216.34"), // how *net.Resolver may return an A record
	"localhost":                addrs("127.0.0.1", "::1"),
	"app.localhost":            addrs("127.0.0.1"),
	"metadata.google.internal": addrs("169.254.169.254"),
	"mixed.test":               addrs("93.184.216.34", "10.0.0.1"),
	"mapped.test":              addrs("::ffff:127.0.0.1"),
	"ula.test":                 addrs("fd12:3456::1"),
}

// requireInvalid fails t unless err is an EINVALID *herald.Error whose message contains
// every one of want.
func requireInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want EINVALID containing %q", want)
	}
	var herr *herald.Error
	if !errors.As(err, &herr) || herr.Code != herald.EINVALID {
		t.Fatalf("got %T %v, want *herald.Error with code %s", err, err, herald.EINVALID)
	}
	for _, w := range want {
		if !strings.Contains(herr.Message, w) {
			t.Errorf("message %q does not contain %q", herr.Message, w)
		}
	}
}

func TestCheckURLRefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string // in the message, besides the flag
	}{
		{"http://127.0.0.1/", "127.0.0.1, a loopback address"},
		{"https://127.1.2.3:8443/hook", "a loopback address"},
		{"http://[::1]/", "::1, a loopback address"},
		{"http://10.0.0.1/", "a private address"},
		{"http://172.16.5.4/", "a private address"},
		{"http://172.31.255.255/", "a private address"},
		{"http://192.168.1.1:8080/", "a private address"},
		{"http://169.254.169.254/latest/meta-data/", "a cloud metadata address"},
		{"http://169.254.1.1/", "a link-local address"},
		{"http://[fd00::1]/", "a private address"},
		{"http://[fd00:ec2::254]/", "a cloud metadata address"},
		{"http://[fe80::1]/", "a link-local address"},
		{"http://[fe80::1%25eth0]/", "a link-local address"},
		{"http://[::ffff:127.0.0.1]/", "127.0.0.1, a loopback address"},
		{"http://[::ffff:7f00:1]/", "127.0.0.1, a loopback address"},
		{"http://[::ffff:a9fe:a9fe]/", "169.254.169.254, a cloud metadata address"},
		{"http://0.0.0.0/", "an unspecified address"},
		{"http://0/", "0.0.0.0, an unspecified address"},
		{"http://[::]/", "an unspecified address"},
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://224.0.0.1/", "a multicast address"},
		{"http://[64:ff9b::7f00:1]/", "a reserved, non-public address"}, // NAT64 of 127.0.0.1
		{"http://2130706433/", "127.0.0.1, a loopback address"},
		{"http://0177.0.0.1/", "127.0.0.1, a loopback address"},
		{"http://0x7f.1/", "127.0.0.1, a loopback address"},
		{"http://0x7f000001/", "127.0.0.1, a loopback address"},
		{"http://017700000001/", "127.0.0.1, a loopback address"},
		{"http://127.1/", "127.0.0.1, a loopback address"},
		{"http://0xA9.0xFE.0xA9.0xFE/", "169.254.169.254, a cloud metadata address"},
		{"http://127.0.0.1./", "127.0.0.1, a loopback address"},
		{"http://localhost/", "loopback"},
		{"HTTP://LOCALHOST:8080/", "loopback"},
		{"http://app.localhost/", "loopback"},
		{"http://evil.test/", "evil.test resolves to 127.0.0.1, a loopback address"},
		{"http://EVIL.test./hook", "resolves to 127.0.0.1"},
		{"http://metadata.google.internal/computeMetadata/v1/", "169.254.169.254, a cloud metadata address"},
		{"http://mixed.test/", "10.0.0.1, a private address"},
		{"http://mapped.test/", "127.0.0.1, a loopback address"},
		{"http://ula.test/", "a private address"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			strict := &egress.Guard{Resolver: names}
			requireInvalid(t, strict.CheckURL(t.Context(), tt.url), tt.want, "--allow-private-networks")

			open := &egress.Guard{AllowPrivate: true, Resolver: names}
			if err := open.CheckURL(t.Context(), tt.url); err != nil {
				t.Errorf("with AllowPrivate: got %v, want nil", err)
			}
		})
	}
}

func TestCheckURLAcceptsPublicAddresses(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://93.184.216.34/",
		"http://93.184.216.34:8080/hooks?x=1#frag",
		"https://[2606:2800:220:1:248:1893:25c8:1946]/",
		"http://1572395042/", // 93.184.216.34 in decimal
		"https://good.test/webhooks",
		"https://GOOD.test:8443/webhooks",
		"https://good.test./",
		"https://good6.test/",
		"https://mapped-good.test/",
	} {
		for _, allow := range []bool{false, true} {
			g := &egress.Guard{AllowPrivate: allow, Resolver: names}
			if err := g.CheckURL(t.Context(), u); err != nil {
				t.Errorf("CheckURL(%q) with AllowPrivate=%v: got %v, want nil", u, allow, err)
			}
		}
	}
}

func TestCheckURLRefusesMalformedURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"too long", "https://good.test/" + strings.Repeat("a", 2048), "at most 2048 characters"},
		{"ftp", "ftp://good.test/", "must start with http:// or https://"},
		{"javascript", "javascript:alert(1)", "must start with http:// or https://"},
		{"file", "file:///etc/passwd", "must start with http:// or https://"},
		{"no scheme", "good.test/hook", "must start with http:// or https://"},
		{"empty", "", "must start with http:// or https://"},
		{"opaque", "http:good.test", "must be absolute"},
		{"no host", "http://", "has no host"},
		{"no host with path", "http:///hook", "has no host"},
		{"port only", "http://:8080/", "has no host"},
		{"userinfo", "http://user:pass@good.test/", "credentials in the URL are not allowed; use headers"},
		{"user only", "https://user@good.test/", "credentials in the URL are not allowed; use headers"},
		{"port zero", "http://good.test:0/", "port must be a number from 1 to 65535"},
		{"port too big", "http://good.test:65536/", "port must be a number from 1 to 65535"},
		{"port not a number", "http://good.test:http/", "not valid"},
		{"escaped host", "http://%31%32%37.0.0.1/", "not valid"},
		{"control character", "http://good.test/\x7f", "not valid"},
		{"bad octet", "http://256.1.1.1/", "not a valid IP address"},
		{"five parts", "http://1.2.3.4.5/", "not a valid IP address"},
		{"bad octal", "http://09.1.1.1/", "not a valid IP address"},
		{"too big", "http://4294967296/", "not a valid IP address"},
		{"name then number", "http://good.0x1/", "not a valid IP address"},
		{"unknown host", "https://nohost.test/", "cannot resolve url host nohost.test: no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, allow := range []bool{false, true} {
				g := &egress.Guard{AllowPrivate: allow, Resolver: names}
				requireInvalid(t, g.CheckURL(t.Context(), tt.url), tt.want)
			}
		})
	}
}

func TestCheckURLResolverFailure(t *testing.T) {
	t.Parallel()
	g := &egress.Guard{Resolver: failingResolver{}}
	err := g.CheckURL(t.Context(), "https://good.test/")
	requireInvalid(t, err, "cannot resolve url host good.test")
	if strings.Contains(err.Error(), "exploded") {
		t.Errorf("message %q repeats the resolver's internal error", err)
	}
}

func TestCheckURLDoesNotLookUpAddresses(t *testing.T) {
	t.Parallel()
	r := &countingResolver{}
	for _, u := range []string{"https://93.184.216.34/", "http://127.0.0.1/", "http://[::1]/", "http://0x7f.1/", "http://2130706433/"} {
		for _, allow := range []bool{false, true} {
			g := &egress.Guard{AllowPrivate: allow, Resolver: r}
			_ = g.CheckURL(t.Context(), u) // only the lookups matter here
		}
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("CheckURL looked up IP literals %d times, want 0", n)
	}
}

// countingServer is a real receiver that counts the connections it accepts and the
// requests it serves.
type countingServer struct {
	*httptest.Server
	conns, requests atomic.Int32
}

func newCountingServer(t *testing.T) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		_, _ = io.WriteString(w, "host="+r.Host) // a failed write shows up as a failed test request
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// requireUntouched fails t unless s has accepted no connection so far. It sends one
// request of its own first: the server accepts connections in order, so once that one is
// answered, any earlier connection would have been counted.
func (s *countingServer) requireUntouched(t *testing.T) {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/probe")
	if err != nil {
		t.Fatalf("probe request: %v", err)
	}
	_ = resp.Body.Close() // nothing to read
	if c, r := s.conns.Load(), s.requests.Load(); c != 1 || r != 1 {
		t.Errorf("server saw %d connections and %d requests besides the probe, want none", c-1, r-1)
	}
}

func (s *countingServer) port() string {
	return s.URL[strings.LastIndexByte(s.URL, ':')+1:]
}

func requireRefused(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want a refusal by egress policy")
	}
	if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "refused by egress policy") {
		t.Fatalf("got %v, want an error wrapping egress.ErrRefused that says \"refused by egress policy\"", err)
	}
}

func TestDialContextRefusesRebinding(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	r := &rebindingResolver{answers: [][]netip.Addr{addrs("93.184.216.34"), addrs("127.0.0.1")}}
	g := &egress.Guard{Resolver: r}

	if err := g.CheckURL(t.Context(), "http://rebind.test:"+srv.port()+"/"); err != nil {
		t.Fatalf("CheckURL with the public answer: %v", err)
	}
	conn, err := g.DialContext(t.Context(), "tcp", "rebind.test:"+srv.port())
	if conn != nil {
		_ = conn.Close() // already a failure; closing only tidies up
	}
	requireRefused(t, err)
	if !strings.Contains(err.Error(), "rebind.test") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q should name the host and the refused address", err)
	}
	srv.requireUntouched(t)
}

func TestTransportRefusesPrivateLiteral(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	g := &egress.Guard{Resolver: names}
	client := &http.Client{Transport: g.Transport()}

	for _, u := range []string{srv.URL + "/hook", "http://receiver.localhost:" + srv.port() + "/hook"} {
		resp, err := client.Post(u, "application/json", strings.NewReader(`{}`))
		if resp != nil {
			_ = resp.Body.Close() // already a failure; closing only tidies up
		}
		if u == srv.URL+"/hook" {
			requireRefused(t, err)
		} else if err == nil {
			t.Errorf("POST %s: got no error, want one", u)
		}
	}
	srv.requireUntouched(t)
}

func TestTransportAllowPrivateReachesServerByName(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	g := &egress.Guard{AllowPrivate: true, Resolver: fakeResolver{"receiver.test": addrs("127.0.0.1")}}
	tr := g.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	u := "http://receiver.test:" + srv.port() + "/hook"
	resp, err := client.Post(u, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "host=receiver.test:"+srv.port() {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "host=receiver.test:"+srv.port())
	}
}

func TestDialContextTriesEachAddressInOrder(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	// Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only), so the first
	// address is refused by the kernel at once and the second must be tried.
	g := &egress.Guard{AllowPrivate: true, Resolver: fakeResolver{"two.test": addrs("127.0.0.2", "127.0.0.1")}}
	conn, err := g.DialContext(t.Context(), "tcp", "two.test:"+srv.port())
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	defer conn.Close()
	if got := conn.RemoteAddr().String(); got != "127.0.0.1:"+srv.port() {
		t.Errorf("connected to %s, want 127.0.0.1:%s", got, srv.port())
	}
}

func TestDialContextRefusals(t *testing.T) {
	t.Parallel()
	srv := newCountingServer(t)
	r := fakeResolver{"local.test": addrs("127.0.0.1"), "v6only.test": addrs("2606:2800:220:1:248:1893:25c8:1946")}
	tests := []struct {
		name         string
		allowPrivate bool
		network      string
		addr         string
		refused      bool   // wraps ErrRefused
		want         string // in the error
	}{
		{"loopback literal", false, "tcp", "127.0.0.1:" + srv.port(), true, "127.0.0.1"},
		{"mapped loopback literal", false, "tcp", "[::ffff:127.0.0.1]:" + srv.port(), true, "127.0.0.1"},
		{"decimal loopback", false, "tcp", "2130706433:" + srv.port(), true, "127.0.0.1"},
		{"hex loopback", false, "tcp4", "0x7f.1:" + srv.port(), true, "127.0.0.1"},
		{"name to loopback", false, "tcp", "local.test:" + srv.port(), true, "local.test"},
		{"udp", true, "udp", "127.0.0.1:" + srv.port(), true, "only tcp"},
		{"unix", true, "unix", "/tmp/x.sock", true, "only tcp"},
		{"wrong family", true, "tcp4", "v6only.test:443", false, "no address of that family"},
		{"unknown name", true, "tcp", "nohost.test:443", false, "no such host"},
		{"bad address", true, "tcp", "999.1.1.1:443", false, "not a valid IP address"},
		{"no host", true, "tcp", ":" + srv.port(), false, "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &egress.Guard{AllowPrivate: tt.allowPrivate, Resolver: r}
			conn, err := g.DialContext(t.Context(), tt.network, tt.addr)
			if conn != nil {
				_ = conn.Close() // already a failure; closing only tidies up
				t.Fatalf("DialContext(%s, %s) connected, want an error", tt.network, tt.addr)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if got := errors.Is(err, egress.ErrRefused); got != tt.refused {
				t.Errorf("errors.Is(err, ErrRefused) = %v, want %v (err: %v)", got, tt.refused, err)
			}
		})
	}
	t.Cleanup(func() {
		if c := srv.conns.Load(); c != 0 {
			t.Errorf("server accepted %d connections, want 0", c)
		}
	})
}

func TestTransportUsesNoProxy(t *testing.T) {
	t.Parallel()
	tr := (&egress.Guard{}).Transport()
	if tr.Proxy != nil {
		t.Error("Transport has a Proxy: a proxy would connect on Herald's behalf, past the guard")
	}
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil {
		t.Error("Transport must dial only through Guard.DialContext")
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://good.test/webhooks", "http://127.0.0.1/", "http://[::ffff:127.0.0.1]/",
		"http://0x7f.1/", "http://2130706433/", "http://0177.0.0.1/", "http://[fe80::1%25eth0]/",
		"http://user:pass@good.test/", "ftp://x/", "http://evil.test./", "http://1.2.3.4.5/",
		"http://%31%32%37.0.0.1/", "http://localhost:0/", "https://[2606:2800::1]:65535/a?b#c",
		"http://0x/", "http://0.0x.00.0/", "http:good.test", "//good.test/", "http://mixed.test/",
	} {
		f.Add(s)
	}
	strict := &egress.Guard{Resolver: names}
	open := &egress.Guard{AllowPrivate: true, Resolver: names}
	f.Fuzz(func(t *testing.T, raw string) {
		errStrict := strict.CheckURL(context.Background(), raw)
		errOpen := open.CheckURL(context.Background(), raw)
		for _, err := range []error{errStrict, errOpen} {
			if err != nil && herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("CheckURL(%q) = %v, want nil or EINVALID", raw, err)
			}
		}
		if errStrict == nil && errOpen != nil {
			t.Fatalf("CheckURL(%q) accepted without AllowPrivate but refused with it: %v", raw, errOpen)
		}
		if errOpen != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || len(raw) > egress.MaxURLLength {
			t.Fatalf("CheckURL accepted %q, which is not an absolute http(s) URL with a host and no userinfo", raw)
		}
	})
}
