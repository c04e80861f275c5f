// Package egress keeps Herald from being turned against the network it runs in
// (server-side request forgery): a webhook URL is an address chosen by a tenant, and
// without a guard a tenant could make Herald POST to 127.0.0.1, to a database on the
// private network or to a cloud metadata service (169.254.169.254) and read the answer
// in the delivery log.
//
// A Guard checks twice. CheckURL refuses a URL at registration, with a message that
// says what to fix. DialContext (and the Transport built on it) refuses at connect time,
// on the IP address actually dialled, so a host name whose DNS answer changes after
// registration (DNS rebinding) still cannot reach a private address. The connect-time
// check is the one that matters; the registration check is there to fail early and
// clearly.
//
// The address policy is code.dny.dev/ssrf's: IPv4 addresses in the IANA special-purpose
// registry (loopback, RFC 1918, link-local and metadata, carrier-grade NAT, multicast,
// reserved) and IPv6 addresses outside global unicast or in its special-purpose
// prefixes are refused. Any port is allowed; only TCP is. With AllowPrivate
// (--allow-private-networks) every address is allowed, for installations that deliver
// inside their own network.
//
// Host names that are IPv4 addresses in the legacy forms resolvers and browsers accept
// (2130706433, 0177.0.0.1, 0x7f.1, 127.1) are read as the address they denote, both
// when checking and when dialling, so they are judged by the same policy.
package egress
