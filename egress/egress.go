package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/heraldhq/herald"
)

// Resolver resolves host names; *net.Resolver satisfies it. Tests inject a fake so no
// real DNS lookup happens.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which endpoints Herald may call. The zero value refuses every address
// that is not public and resolves with net.DefaultResolver. A Guard is safe for
// concurrent use once its fields are set; do not change them afterwards.
type Guard struct {
	AllowPrivate bool     // --allow-private-networks: allow every address
	Resolver     Resolver // nil: net.DefaultResolver
}

// ErrRefused is in the chain of every error DialContext returns because the egress
// policy refused an address, so callers can tell a refusal from a network failure with
// errors.Is.
var ErrRefused = errors.New("refused by egress policy")

// MaxURLLength is the longest webhook URL CheckURL accepts.
const MaxURLLength = 2048

const (
	// resolveTimeout bounds the DNS lookup CheckURL makes, so a registration request does
	// not hang on a slow name server.
	resolveTimeout = 5 * time.Second
	// dialTimeout bounds one DialContext call over all of a host's addresses, as
	// http.DefaultTransport's dialer does.
	dialTimeout = 30 * time.Second
	// minAddrTimeout is the least time one address gets when several share the deadline.
	minAddrTimeout = 2 * time.Second

	privateHint = "Herald refuses private, loopback, link-local and metadata addresses unless started with --allow-private-networks"
)

// publicOnly is the address policy without AllowPrivate, built once: an ssrf Guardian is
// immutable and safe for concurrent use. It allows any port (webhook receivers listen on
// many) and only tcp4 and tcp6.
var publicOnly = ssrf.New(ssrf.WithAnyPort())

// allowed reports whether g may connect to a, with the reason when it may not. With
// AllowPrivate every address is allowed, IPv6 addresses with a zone included (which no
// netip.Prefix contains, so an allow-all prefix in the Guardian would refuse them).
func (g *Guard) allowed(a netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	return publicOnly.SafeAddr(a)
}

func (g *Guard) resolver() Resolver {
	if g.Resolver == nil {
		return net.DefaultResolver
	}
	return g.Resolver
}

// CheckURL validates a webhook URL at registration: http or https, at most MaxURLLength
// characters, a host, no userinfo, a port from 1 to 65535, and, unless AllowPrivate,
// every address the host resolves to is public. A host name is resolved even with
// AllowPrivate, so a typo fails at registration rather than on every delivery.
//
// Every error is a *herald.Error with code EINVALID and a message that says what to fix;
// for a non-public address it names --allow-private-networks. CheckURL connects to
// nothing, and looks nothing up for an IP address.
func (g *Guard) CheckURL(ctx context.Context, rawURL string) error {
	if len(rawURL) > MaxURLLength {
		return herald.Errorf(herald.EINVALID, "url must be at most %d characters, not %d", MaxURLLength, len(rawURL))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the url.Error repeats the whole URL
		}
		return herald.Errorf(herald.EINVALID, "url is not valid: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return herald.Errorf(herald.EINVALID, "url must start with http:// or https://")
	}
	if u.Opaque != "" {
		return herald.Errorf(herald.EINVALID, "url must be absolute, like https://example.com/webhooks")
	}
	if u.User != nil {
		return herald.Errorf(herald.EINVALID, "credentials in the URL are not allowed; use headers")
	}
	host := u.Hostname()
	if host == "" {
		return herald.Errorf(herald.EINVALID, "url has no host; it must look like https://example.com/webhooks")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return herald.Errorf(herald.EINVALID, "url port must be a number from 1 to 65535, not %q", p)
		}
	}

	addr, isIP, err := hostAddr(host)
	if err != nil {
		return herald.Errorf(herald.EINVALID, "url host %q is not a valid IP address", host)
	}
	if isIP {
		if err := g.allowed(addr); err != nil {
			return herald.Errorf(herald.EINVALID, "url resolves to %s, %s; %s", addr, describe(addr), privateHint)
		}
		return nil
	}

	if !g.AllowPrivate && isLocalhostName(host) {
		return herald.Errorf(herald.EINVALID, "url host %s is a loopback name; %s", host, privateHint)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return herald.Errorf(herald.EINVALID, "cannot resolve url host %s: %s", host, resolveProblem(err))
	}
	for _, a := range addrs {
		a = a.Unmap() // *net.Resolver may answer an A record as ::ffff:a.b.c.d
		if err := g.allowed(a); err != nil {
			return herald.Errorf(herald.EINVALID, "url host %s resolves to %s, %s; %s", host, a, describe(a), privateHint)
		}
	}
	return nil
}

// isLocalhostName reports whether host is localhost or a name under it, which RFC 6761
// reserves for loopback: refused without asking a resolver.
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// resolveProblem says why a lookup failed without repeating the resolver's own error,
// which can name internal name servers.
func resolveProblem(err error) string {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return "no addresses"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host; check the name"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return "the lookup timed out; try again"
	}
	return "the lookup failed; try again"
}

// withoutServer returns err with the name server's address left out of its text when
// it is a *net.DNSError ("lookup x on 10.0.0.53:53: no such host" becomes "lookup x:
// no such host"): the error reaches tenants in their attempt logs, and the resolver's
// address is Herald's network, not theirs. It is still a *net.DNSError for errors.As.
func withoutServer(err error) error {
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || dnsErr.Server == "" {
		return err
	}
	hidden := *dnsErr
	hidden.Server = ""
	return &hidden
}

// DialContext dials like net.Dialer.DialContext, for network tcp, tcp4 or tcp6, but
// resolves addr's host with g's Resolver and refuses, unless AllowPrivate, every address
// that is not public. The check runs in the dialer's Control function, on the IP
// actually dialled and before the connection is attempted, so a DNS answer that changed
// since CheckURL (rebinding) cannot reach a private address.
//
// Like net.Dialer it tries the host's addresses in order, splitting the time left
// between them, and returns the first connection made. When none connects it returns
// the first address's error; a refused address's error wraps ErrRefused and reads
// "refused by egress policy: …". A failed lookup's error never names the name server.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("egress: dial %s %s: %w: only tcp is allowed", network, addr, ErrRefused)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", addr, err)
	}
	if host == "" {
		return nil, fmt.Errorf("egress: dial %s: no host", addr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: port must be a number from 0 to 65535", addr)
	}

	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ip, isIP, err := hostAddr(host)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: host %w", addr, err)
	}
	var addrs []netip.Addr
	if isIP {
		addrs = []netip.Addr{ip}
	} else {
		found, err := g.resolver().LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("egress: dial %s: %w", addr, withoutServer(err))
		}
		for _, a := range found {
			addrs = append(addrs, a.Unmap())
		}
	}
	addrs = ofFamily(addrs, network)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("egress: dial %s %s: no address of that family", network, addr)
	}

	d := net.Dialer{KeepAlive: 30 * time.Second, Control: g.control}
	var firstErr error
	for i, a := range addrs {
		conn, err := dialOne(ctx, &d, network, netip.AddrPortFrom(a, uint16(port)), len(addrs)-i)
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if isIP {
		return nil, firstErr // net.OpError already names the address
	}
	return nil, fmt.Errorf("egress: dial %s: %w", addr, firstErr)
}

// dialOne dials one address, giving it an even share of the time left (at least
// minAddrTimeout) when more addresses are waiting, as net.Dialer does.
func dialOne(ctx context.Context, d *net.Dialer, network string, ap netip.AddrPort, left int) (net.Conn, error) {
	if deadline, ok := ctx.Deadline(); ok && left > 1 {
		share := max(time.Until(deadline)/time.Duration(left), minAddrTimeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, share)
		defer cancel() // a connection, once made, outlives its dial context
	}
	return d.DialContext(ctx, network, ap.String())
}

// control is the dialer's Control function: the last word on every connection.
func (g *Guard) control(network, address string, c syscall.RawConn) error {
	if !g.AllowPrivate {
		if err := publicOnly.Safe(network, address, c); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil
	}
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: %s is not a permitted network type (tcp4, tcp6)", ErrRefused, network)
	}
	return nil
}

func ofFamily(addrs []netip.Addr, network string) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if network == "tcp" || network == "tcp4" && a.Is4() || network == "tcp6" && a.Is6() {
			out = append(out, a)
		}
	}
	return out
}

// Transport returns an *http.Transport that makes every connection through
// g.DialContext, for delivering to many hosts: no proxy (a proxy would connect on
// Herald's behalf, out of the guard's sight, so HTTP_PROXY is deliberately ignored), up
// to 32 idle connections per host kept for 90 s, a 10 s TLS handshake limit, HTTP/2
// when the receiver offers it, and response headers capped at 64 KiB. Request timeouts
// and redirect policy belong to the caller's http.Client and request context.
func (g *Guard) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}
