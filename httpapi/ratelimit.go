package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald"
)

// RateLimits are the API's request rates, each a token bucket that holds twice its rate,
// so a client may burst to two seconds' worth. Zero turns a limit off. The buckets live in
// the process: with N processes behind a load balancer a key gets up to N times the rate.
type RateLimits struct {
	// Tenant is the requests per second each tenant key may make. A request whose
	// context carries herald.WithRateLimitSpent (a portal page's calls after its first)
	// is not charged to the key's bucket, nor to the admin's.
	Tenant float64
	// Admin is the requests per second the admin key may make. The admin key is the
	// producer's publishing key, so a limit here throttles publishing itself.
	Admin float64
	// AuthFailures is how many requests per second one client address may make with an
	// unknown API key, to slow key guessing (an IPv6 client is counted by its /64).
	// Once its bucket is empty, unknown keys from the address are answered 429 rather
	// than 401. Valid keys are never charged to nor refused by this bucket, so users
	// behind one proxy are not locked out by one of them guessing.
	AuthFailures float64
}

// Bounds on the memory the limiter's buckets take.
const (
	// maxBuckets caps the buckets kept per kind. Tenant keys are bounded by the tenants
	// that exist, but client addresses are not: past the cap, new addresses share one
	// bucket, so a flood from many addresses is still limited, as a whole.
	maxBuckets = 100_000
	// sweepEvery is how often idle buckets are dropped.
	sweepEvery = time.Minute
)

// limiter is a set of token buckets, one per key, of the same rate.
type limiter struct {
	rate  rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *rate.Limiter // shared by keys that arrive once maxBuckets are kept
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// newLimiter returns a limiter of perSecond tokens a second, bursting to twice that, or
// nil (no limit) for zero or less.
func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return nil
	}
	burst := max(1, int(math.Ceil(2*perSecond)))
	return &limiter{
		rate: rate.Limit(perSecond), burst: burst,
		buckets:  map[string]*bucket{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// bucket returns key's bucket, making it if needed, and drops idle ones now and then.
func (l *limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			return l.overflow
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	return b.lim
}

// sweep drops the buckets unused for long enough to be full again: a new bucket is the
// same as such a one, so dropping them changes no answer.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	refill := time.Duration(float64(l.burst)/float64(l.rate)*float64(time.Second)) + time.Second
	for k, b := range l.buckets {
		if now.Sub(b.used) > refill {
			delete(l.buckets, k)
		}
	}
}

// size is how many buckets are kept.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// take takes a token from key's bucket. When there is none it takes nothing and returns
// how long until there is one.
func (l *limiter) take(key string, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	r := l.bucket(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// limited is the 429 for a bucket that is empty for wait more. Retry-After is whole
// seconds rounded up, so a client that waits that long finds a token.
func limited(wait time.Duration, what string, perSecond float64, burst int) *apiError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	e := answer(herald.Errorf(herald.ERATELIMITED, "too many requests %s: the limit is %g per second, in bursts of up to %d; retry after %d s",
		what, perSecond, burst, secs))
	e.Details = "rate limit"
	e.retryAfter = secs
	return e
}

// clientAddr is the bucket key of the client that sent r: its IP address, or for IPv6
// its /64, since one host usually holds a whole /64. Forwarded headers are not trusted:
// anyone can set them.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // a valid IPv6 address always has a /64
		return p.String()
	}
	return a.String()
}
