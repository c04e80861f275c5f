package portal_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// stalledStore is the real store whose webhook list never answers until the caller
// gives up, as a database behind a network partition.
type stalledStore struct{ herald.Store }

func (s stalledStore) Webhooks(ctx context.Context, f herald.WebhookFilter) ([]herald.Webhook, int, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// TestAPIRefusalShowsTheAPIsMessage: a page whose API call is refused shows the API's
// own status and message, here the 503 of a store that did not answer in time, not a
// generic server error.
func TestAPIRefusalShowsTheAPIsMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) {
		c.api.Store = stalledStore{c.api.Store}
		c.api.StoreTimeout = 50 * time.Millisecond
	})
	b := e.browser()
	b.signIn(e.adminKey)
	wantPage(t, "webhooks with a stalled store", b.get("/webhooks"), http.StatusServiceUnavailable,
		"the database did not answer in time; try again later")
}
