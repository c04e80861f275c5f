package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ParseProxy checks an egress proxy URL (--egress-proxy): http:// or https://, a host
// and an optional port (80 or 443 by default), optional user:password for the proxy's
// Basic authentication, and no path, query or fragment. Its errors never repeat the URL,
// which may hold a password.
func ParseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("egress proxy URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("egress proxy URL: want http://host:port (or https://), like http://proxy:3128")
	}
	if u.Hostname() == "" {
		return nil, errors.New("egress proxy URL: no host; want http://host:port, like http://proxy:3128")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("egress proxy URL: want http://host:port, without a path or query")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("egress proxy URL: port must be a number from 1 to 65535, not %q", p)
		}
	}
	u.Path = ""
	return u, nil
}

// proxyAddr is the host:port a transport dials to reach proxy.
func proxyAddr(proxy *url.URL) string {
	port := proxy.Port()
	if port == "" {
		port = "80"
		if proxy.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(proxy.Hostname(), port)
}

// ProxyTransport is Transport for an installation whose outbound traffic must leave
// through a forward proxy: every request goes to proxy, plain http ones as
// absolute-URI requests and https ones through a CONNECT tunnel (so TLS, client
// certificates included, is end to end with the endpoint). The transport connects to
// the proxy and nowhere else.
//
// The proxy resolves and connects to the endpoint, out of the guard's sight, so the
// work is split: before a request is handed to the proxy, the guard refuses a
// destination that is an IP address it would refuse, a localhost name, or a host name
// that resolves here to an address it would refuse (unless AllowPrivate). A name that
// does not resolve here is left to the proxy, which may see other DNS. The proxy is the
// network boundary: it must refuse private destinations itself (as smokescreen does),
// since a name can resolve differently by the time it connects.
func (g *Guard) ProxyTransport(proxy *url.URL) *http.Transport {
	tr := g.Transport()
	addr := proxyAddr(proxy)
	tr.Proxy = func(req *http.Request) (*url.URL, error) {
		if err := g.checkDestination(req.Context(), req.URL.Hostname()); err != nil {
			return nil, err
		}
		return proxy, nil
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, to string) (net.Conn, error) {
		if to != addr {
			// The Proxy function never returns nil, so this is not reached; it keeps
			// the promise that nothing but the proxy is dialled.
			return nil, fmt.Errorf("egress: dial %s: %w: only the egress proxy may be dialled", to, ErrRefused)
		}
		return d.DialContext(ctx, network, to)
	}
	return tr
}

// checkDestination is the guard's check of a destination handed to the proxy.
func (g *Guard) checkDestination(ctx context.Context, host string) error {
	if g.AllowPrivate {
		return nil
	}
	addr, isIP, err := hostAddr(host)
	if err != nil {
		return fmt.Errorf("egress: host %q: %w: not a valid IP address", host, ErrRefused)
	}
	if isIP {
		if err := g.allowed(addr); err != nil {
			return fmt.Errorf("egress: %w: %s is %s", ErrRefused, addr, describe(addr))
		}
		return nil
	}
	if isLocalhostName(host) {
		return fmt.Errorf("egress: %w: %s is a loopback name", ErrRefused, host)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil // the proxy may resolve what Herald cannot; it enforces the boundary
	}
	for _, a := range addrs {
		a = a.Unmap()
		if err := g.allowed(a); err != nil {
			return fmt.Errorf("egress: %w: %s resolves to %s, %s", ErrRefused, host, a, describe(a))
		}
	}
	return nil
}
