package egress

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// hostAddr reports whether host is an IP address and which: a standard IPv4 or IPv6
// literal (with an IPv6 zone if any), or an IPv4 address in one of the legacy forms that
// inet_aton and browsers accept. ok is false for a host name. err is set when host looks
// like an IPv4 address (its last label is a number) but is not a valid one, such as
// 256.1.1.1 or 1.2.3.4.5; such a host must not be sent to a resolver, which might read it
// differently.
func hostAddr(host string) (addr netip.Addr, ok bool, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), true, nil
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if !isNumber(labels[len(labels)-1]) {
		return netip.Addr{}, false, nil
	}
	a, valid := parseLegacyIPv4(labels)
	if !valid {
		return netip.Addr{}, false, errInvalidIP
	}
	return a, true, nil
}

var errInvalidIP = errors.New("not a valid IP address")

// isNumber reports whether s is a number as the WHATWG URL standard's IPv4 parser sees
// it: decimal digits, or 0x followed by hex digits (possibly none).
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		for _, c := range s[2:] {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseLegacyIPv4 parses one to four parts, each decimal, octal (leading 0) or hex (0x),
// the last part filling the bytes the others leave: 127.1 is 127.0.0.1 and 2130706433 is
// 127.0.0.1 too.
func parseLegacyIPv4(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseLegacyNumber(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return netip.Addr{}, false
			}
			v = v<<8 | n
			continue
		}
		rest := uint(5-len(parts)) * 8 // bits the last part fills
		if n >= 1<<rest {
			return netip.Addr{}, false
		}
		v = v<<rest | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseLegacyNumber(s string) (uint64, bool) {
	base := 10
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
		if s == "" {
			return 0, true // "0x" is 0, as browsers read it
		}
	case len(s) >= 2 && s[0] == '0':
		base, s = 8, s[1:]
	case s == "":
		return 0, false
	}
	n, err := strconv.ParseUint(s, base, 32)
	return n, err == nil
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, DigitalOcean, OpenStack
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
)

// describe names the kind of non-public address a is, for a message to the user.
func describe(a netip.Addr) string {
	a = a.Unmap()
	for _, m := range metadataAddrs {
		if a.WithZone("") == m {
			return "a cloud metadata address"
		}
	}
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "an unspecified address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	case sharedSpace.Contains(a):
		return "a shared (carrier-grade NAT) address"
	}
	return "a reserved, non-public address"
}
