package client

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-5", 0, true},
		{"9227000000", 24 * time.Hour, true}, // would overflow as a Duration
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"soon", 0, false},
	} {
		got, ok := retryAfter(tc.header, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s, %t; want %s, %t", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzRetryAfter checks that any Retry-After a server sends is read as a wait of zero
// or more, or not at all, and never panics.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", "9227000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := retryAfter(v, time.Now()); d < 0 || (!ok && d != 0) {
			t.Errorf("retryAfter(%q) = %s, %t", v, d, ok)
		}
	})
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	h := http.Header{"Link": {`</api/v1/deliveries?offset=40&per_page=20>; rel="next"`}}
	q, ok := nextLink(h)
	if !ok || q.Get("offset") != "40" {
		t.Errorf("nextLink: %v, %t; want offset 40", q, ok)
	}
	if _, ok := nextLink(http.Header{"Link": {`</x?offset=1>; rel="prev"`}}); ok {
		t.Error("a prev link taken for next")
	}
}
