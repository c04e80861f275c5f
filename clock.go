package herald

import "time"

// Clock tells the time. Everything that schedules (retries, leases, grace periods) takes
// one, so tests can move time instead of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
