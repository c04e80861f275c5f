package herald

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DestinationKind is what a webhook delivers to, chosen by its URL's scheme: an HTTP
// endpoint or a message broker.
type DestinationKind string

// The destination kinds. Every kind but DestinationHTTP is a broker: its deliveries are
// published as messages whose body is the format's envelope and whose headers are the
// signature headers.
const (
	DestinationHTTP  DestinationKind = "http"  // http:// and https://
	DestinationNATS  DestinationKind = "nats"  // nats://host:4222/subject
	DestinationAMQP  DestinationKind = "amqp"  // amqp://user:pass@host:5672/vhost?exchange=x&routing_key=y
	DestinationRedis DestinationKind = "redis" // redis://host:6379/0?stream=name&maxlen=100000
	DestinationKafka DestinationKind = "kafka" // kafka://broker:9092/topic
)

// DestinationOf returns the kind of destination rawURL names, by its scheme, or "" when
// the scheme is none Herald delivers to.
func DestinationOf(rawURL string) DestinationKind {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return ""
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return DestinationHTTP
	case "nats":
		return DestinationNATS
	case "amqp":
		return DestinationAMQP
	case "redis":
		return DestinationRedis
	case "kafka":
		return DestinationKafka
	}
	return ""
}

// IsBroker reports whether k is a message broker rather than an HTTP endpoint.
func (k DestinationKind) IsBroker() bool { return k != "" && k != DestinationHTTP }

// Default ports of the brokers, used when a URL names none.
var brokerPorts = map[DestinationKind]string{
	DestinationNATS: "4222", DestinationAMQP: "5672", DestinationRedis: "6379", DestinationKafka: "9092",
}

// BrokerAddress returns the host:port a broker URL connects to, its port defaulted.
func BrokerAddress(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = brokerPorts[DestinationOf(u.String())]
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}

var (
	// natsSubject is a publishable NATS subject: dot-separated tokens, no wildcards.
	natsSubject = regexp.MustCompile(`^[^.*>\s]+(\.[^.*>\s]+)*$`)
	kafkaTopic  = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	redisStream = regexp.MustCompile(`^\S{1,256}$`)
)

// ValidateBrokerURL checks a broker destination URL (DestinationOf is a broker) and
// returns an EINVALID error saying what to fix: a host; for nats a subject as its path
// and an optional core=true|false; for amqp a vhost as its path, and a routing_key
// unless an exchange is given; for redis a database number as its path, a stream and an
// optional maxlen; for kafka a topic as its path. Query parameters other than these are
// refused, so a typo does not pass for a setting. Reaching the host is not its concern
// (see the egress guard).
func ValidateBrokerURL(rawURL string) error {
	kind := DestinationOf(rawURL)
	if !kind.IsBroker() {
		return Errorf(EINVALID, "url scheme must be http, https, nats, amqp, redis or kafka")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the url.Error repeats the whole URL, password and all
		}
		return Errorf(EINVALID, "url is not valid: %v", err)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return Errorf(EINVALID, "url has no host; it must look like %s", brokerExample[kind])
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return Errorf(EINVALID, "url port must be a number from 1 to 65535, not %q", p)
		}
	}
	if u.Fragment != "" {
		return Errorf(EINVALID, "url must not have a #fragment")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); !ok {
			return Errorf(EINVALID, "url credentials must be user:password@ (a NATS token as :token@), so that Herald can seal the secret part")
		}
	}
	q := u.Query()
	allowed := map[DestinationKind][]string{
		DestinationNATS: {"core"}, DestinationAMQP: {"exchange", "routing_key"},
		DestinationRedis: {"stream", "maxlen"}, DestinationKafka: nil,
	}[kind]
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return Errorf(EINVALID, "url query parameter %q is not known: a %s url takes none", k, kind)
			}
			return Errorf(EINVALID, "url query parameter %q is not known: a %s url takes %s", k, kind, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return Errorf(EINVALID, "url query parameter %q is given %d times; give it once", k, len(vs))
		}
	}
	path := strings.TrimPrefix(u.Path, "/")
	switch kind {
	case DestinationNATS:
		if path == "" {
			return Errorf(EINVALID, "a nats url needs a subject as its path, like nats://host:4222/orders.events")
		}
		if !natsSubject.MatchString(path) {
			return Errorf(EINVALID, "nats subject %q is not valid: dot-separated tokens without spaces or the wildcards * and >", path)
		}
		if c := q.Get("core"); q.Has("core") && c != "true" && c != "false" {
			return Errorf(EINVALID, "nats url parameter core must be true or false, not %q", c)
		}
	case DestinationAMQP:
		if strings.Contains(path, "/") {
			return Errorf(EINVALID, "an amqp url's path is its vhost, one segment (%%2F for a slash in the name), not %q", path)
		}
		if q.Get("exchange") == "" && q.Get("routing_key") == "" {
			return Errorf(EINVALID, "an amqp url needs a routing_key (the queue's name, with the default exchange) or an exchange, like amqp://user:pass@host:5672/vhost?exchange=events&routing_key=orders")
		}
	case DestinationRedis:
		if path != "" {
			if n, err := strconv.Atoi(path); err != nil || n < 0 {
				return Errorf(EINVALID, "a redis url's path is its database number, like redis://host:6379/0, not %q", path)
			}
		}
		if s := q.Get("stream"); s == "" {
			return Errorf(EINVALID, "a redis url needs a stream, like redis://host:6379/0?stream=events")
		} else if !redisStream.MatchString(s) {
			return Errorf(EINVALID, "redis stream name must be 1 to 256 characters without spaces")
		}
		if m := q.Get("maxlen"); q.Has("maxlen") {
			if n, err := strconv.ParseInt(m, 10, 64); err != nil || n < 1 {
				return Errorf(EINVALID, "redis url parameter maxlen must be a whole number of at least 1, not %q", m)
			}
		}
	case DestinationKafka:
		if path == "" {
			return Errorf(EINVALID, "a kafka url needs a topic as its path, like kafka://broker:9092/orders")
		}
		if !kafkaTopic.MatchString(path) {
			return Errorf(EINVALID, "kafka topic %q is not valid: 1 to 249 letters, digits, '.', '_' or '-'", path)
		}
	}
	if p, ok := urlPassword(rawURL); ok && p == RedactedPassword {
		return Errorf(EINVALID, "url password *** is how Herald shows a sealed password; give the password itself")
	}
	return nil
}

var brokerExample = map[DestinationKind]string{
	DestinationNATS:  "nats://host:4222/orders.events",
	DestinationAMQP:  "amqp://user:pass@host:5672/vhost?exchange=x&routing_key=y",
	DestinationRedis: "redis://host:6379/0?stream=events",
	DestinationKafka: "kafka://broker:9092/orders",
}

// RedactedPassword stands for a sealed URL password wherever a webhook's URL is shown.
const RedactedPassword = "***"

// passwordSpan returns where the password of rawURL's userinfo is, as written
// (percent-encoded), or ok false when it has none. It reads the authority the way
// net/url does: from "//" to the first '/', '?' or '#', userinfo up to its last '@'.
func passwordSpan(rawURL string) (start, end int, ok bool) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return 0, 0, false
	}
	auth := i + 3
	stop := len(rawURL)
	if j := strings.IndexAny(rawURL[auth:], "/?#"); j >= 0 {
		stop = auth + j
	}
	at := strings.LastIndex(rawURL[auth:stop], "@")
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.Index(rawURL[auth:auth+at], ":")
	if colon < 0 {
		return 0, 0, false
	}
	return auth + colon + 1, auth + at, true
}

func urlPassword(rawURL string) (string, bool) {
	s, e, ok := passwordSpan(rawURL)
	if !ok {
		return "", false
	}
	return rawURL[s:e], true
}

// SplitURLPassword returns rawURL with the password of its userinfo replaced by
// RedactedPassword, and that password as written (percent-encoded); password is "" when
// rawURL has none. Stores keep redacted in the clear and seal password.
func SplitURLPassword(rawURL string) (redacted, password string) {
	s, e, ok := passwordSpan(rawURL)
	if !ok || s == e {
		return rawURL, ""
	}
	return rawURL[:s] + RedactedPassword + rawURL[e:], rawURL[s:e]
}

// JoinURLPassword undoes SplitURLPassword: it puts password back in place of
// RedactedPassword in redacted. With an empty password it returns redacted.
func JoinURLPassword(redacted, password string) string {
	if password == "" {
		return redacted
	}
	s, e, ok := passwordSpan(redacted)
	if !ok || redacted[s:e] != RedactedPassword {
		return redacted
	}
	return redacted[:s] + password + redacted[e:]
}

// RedactURL returns rawURL as it may be shown: its password, if any, is RedactedPassword.
func RedactURL(rawURL string) string {
	redacted, _ := SplitURLPassword(rawURL)
	return redacted
}

// KeepURLPassword returns the URL an update sets: updated as given, except that when
// its password is RedactedPassword (the URL was read back and sent unchanged, or edited
// around the password) the password of current takes its place. That is refused with
// EINVALID when current has no password, or when updated names another scheme, user or
// host: a kept password only ever goes to the broker it was given for.
func KeepURLPassword(updated, current string) (string, error) {
	p, has := urlPassword(updated)
	if !has || p != RedactedPassword {
		return updated, nil
	}
	_, password := SplitURLPassword(current)
	if password == "" {
		return "", Errorf(EINVALID, "url password *** stands for a password Herald keeps, and this webhook has none; give the password itself")
	}
	nu, err1 := url.Parse(updated)
	cu, err2 := url.Parse(current)
	if err1 != nil || err2 != nil || !strings.EqualFold(nu.Scheme, cu.Scheme) ||
		!strings.EqualFold(nu.Host, cu.Host) || nu.User.Username() != cu.User.Username() {
		return "", Errorf(EINVALID, "url password *** keeps the stored password only for the same scheme, user and host; give the password itself to send it elsewhere")
	}
	return JoinURLPassword(updated, password), nil
}

// SealURLPassword splits rawURL for a store: the URL to keep in the clear (its password
// RedactedPassword) and the password sealed by c, nil when it has none.
func SealURLPassword(c Cipher, rawURL string) (redacted string, sealed []byte, err error) {
	redacted, password := SplitURLPassword(rawURL)
	if password == "" {
		return rawURL, nil, nil
	}
	if sealed, err = c.Seal([]byte(password)); err != nil {
		return "", nil, err
	}
	return redacted, sealed, nil
}

// OpenURLPassword undoes SealURLPassword: it opens sealed with c and puts the password
// back into redacted.
func OpenURLPassword(c Cipher, redacted string, sealed []byte) (string, error) {
	if sealed == nil {
		return redacted, nil
	}
	password, err := c.Open(sealed)
	if err != nil {
		return "", err
	}
	return JoinURLPassword(redacted, string(password)), nil
}
