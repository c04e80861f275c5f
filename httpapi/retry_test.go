package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/httpapi"
)

// TestRetryOutlastsTheStoreTimeout retries a delivery, with the real dispatcher, to an
// endpoint that answers after longer than the store timeout: the store timeout bounds
// the lookups, not the attempt, so the attempt is recorded and answered, not cut off
// into a 503 that leaves the delivery leased.
func TestRetryOutlastsTheStoreTimeout(t *testing.T) {
	t.Parallel()
	const storeTimeout = 100 * time.Millisecond
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * storeTimeout)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slow.Close)
	e := newEnv(t, func(c *httpapi.Config) {
		c.StoreTimeout = storeTimeout
		c.Dispatcher = dispatch.New(dispatch.Config{Store: c.Store, Client: &http.Client{}})
	})
	w := e.createWebhook(e.adminKey, map[string]any{"url": slow.URL + "/hook"})
	var ds []herald.Delivery
	e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+w.ID+"/deliveries", e.adminKey, nil, &ds)
	if len(ds) == 0 {
		t.Fatal("creating a webhook made no delivery to retry")
	}
	id := ds[0].ID

	for i := range 2 { // the second finds the delivery free again: the first released it
		var d herald.Delivery
		e.must(http.StatusOK, "POST", "/api/v1/deliveries/"+id+"/retry", e.adminKey, nil, &d)
		if len(d.Attempts) != i+1 {
			t.Fatalf("retry %d: %d attempts recorded, want %d: %+v", i+1, len(d.Attempts), i+1, d)
		}
		for _, a := range d.Attempts {
			if !a.Success || a.StatusCode != http.StatusNoContent || a.DurationMS < (4*storeTimeout).Milliseconds() {
				t.Errorf("retry %d: attempt %+v, want a 204 that took at least %v", i+1, a, 4*storeTimeout)
			}
		}
	}
}
