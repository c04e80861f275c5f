package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/wire"
)

// userAgent is sent with every attempt.
const userAgent = "Herald/" + herald.Version

// drainLimit is how much of a response body beyond what is kept is read so the
// connection can be reused; a larger body closes the connection instead.
const drainLimit = 64 << 10

// send makes one HTTP request for c and returns the attempt (not yet numbered by the
// store) and the response's Retry-After header.
func (d *Dispatcher) send(ctx context.Context, c *herald.Claim, policy wire.Policy) (*herald.Attempt, string) {
	now := d.cfg.Clock.Now()
	a := &herald.Attempt{
		ID:         herald.NewID(herald.PrefixAttempt),
		DeliveryID: c.Delivery.ID,
		Number:     c.Delivery.AttemptCount + 1,
		At:         now,
	}
	ctx, span := d.startAttempt(ctx, c, a)
	defer endAttempt(span, a)
	msg, err := wire.Build(&c.Event, &c.Webhook, c.Delivery.ID, now)
	if err != nil {
		a.Error = fmt.Sprintf("build request: %v", err)
		return a, ""
	}
	ctx, cancel := context.WithTimeout(ctx, policy.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Webhook.URL, bytes.NewReader(msg.Body))
	if err != nil {
		a.Error = fmt.Sprintf("build request: %v", err)
		return a, ""
	}
	req.Header = msg.Header
	req.Header.Set("User-Agent", userAgent)
	a.RequestHeaders = req.Header.Clone()

	start := time.Now()
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		a.DurationMS = time.Since(start).Milliseconds()
		a.Error = describe(err, policy.Timeout)
		return a, ""
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, herald.MaxResponseBody))
	// Drain a little more so the connection can carry the next attempt; a receiver
	// that sends more than that loses its connection, not our memory.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit)); err != nil {
		readErr = errors.Join(readErr, err)
	}
	a.DurationMS = time.Since(start).Milliseconds()
	a.StatusCode = resp.StatusCode
	a.ResponseHeaders = resp.Header.Clone()
	a.ResponseBody = strings.ToValidUTF8(string(body), string(utf8.RuneError))
	a.Success = resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Error = fmt.Sprintf("%v: %d to %q", errRedirect, resp.StatusCode, resp.Header.Get("Location"))
	case !a.Success:
		a.Error = fmt.Sprintf("endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	case readErr != nil && ctx.Err() != nil:
		// A 2xx that did not finish its body within the timeout is still a 2xx: the
		// receiver has accepted the delivery. Note it; do not fail it.
		a.Error = "response body cut off at the timeout"
	}
	return a, resp.Header.Get("Retry-After")
}

// describe turns a transport error into a line for the attempt log.
func describe(err error, timeout time.Duration) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("no response within %s", timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled: Herald was shutting down"
	}
	var urlErr interface{ Unwrap() error }
	if errors.As(err, &urlErr) {
		err = urlErr.Unwrap() // drop the `Post "url":` prefix that repeats the webhook's URL
	}
	return err.Error()
}
