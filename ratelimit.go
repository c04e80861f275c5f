package herald

import "context"

// rateLimitSpentKey marks a context whose request has already paid the API's rate limit.
// It is unexported and lives only in contexts, so nothing outside the process (no
// header, no query) can set it: only code built into Herald can.
type rateLimitSpentKey struct{}

// WithRateLimitSpent returns ctx marked as belonging to work that has already been
// charged one request of its API key's rate limit. The portal renders one page with
// several in-process API calls: the first is charged, and the rest carry this mark so
// that one page costs the key one request, not one per call. The mark never bypasses
// authentication, nor the limit on unknown keys.
func WithRateLimitSpent(ctx context.Context) context.Context {
	return context.WithValue(ctx, rateLimitSpentKey{}, true)
}

// RateLimitSpent reports whether ctx was marked by WithRateLimitSpent.
func RateLimitSpent(ctx context.Context) bool {
	spent, _ := ctx.Value(rateLimitSpentKey{}).(bool)
	return spent
}
