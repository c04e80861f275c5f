package bench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCreateHostileWebhooksStopsAtTheCap creates webhooks through an API that answers
// 429 now and then and refuses past a cap of 25, as --max-webhooks-per-tenant does: the
// 429s are waited out, creation stops at the first refusal, and the report has the
// count and the server's message.
func TestCreateHostileWebhooksStopsAtTheCap(t *testing.T) {
	t.Parallel()
	for _, refusal := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		var mu sync.Mutex
		created, calls := 0, 0
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != "POST" || r.URL.Path != "/api/v1/webhooks" || r.Header.Get("Authorization") != "Bearer hk_tenant_x" {
				t.Errorf("%s %s with %q, want POST /api/v1/webhooks with the tenant's key", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			}
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch {
			case calls%7 == 0:
				w.WriteHeader(http.StatusTooManyRequests)
			case created >= 25:
				w.WriteHeader(refusal)
				_, _ = w.Write([]byte(`{"error":"tenant has 25 webhooks, the most it may have"}`))
			default:
				created++
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"id":"wh_x"}`))
			}
		}))
		t.Cleanup(api.Close)
		b := &harness{client: &http.Client{Timeout: 10 * time.Second}}
		res := &HostileResult{WebhooksWanted: 300}
		if err := b.createHostileWebhooks(t.Context(), api.URL, "hk_tenant_x", "http://127.0.0.1:9", res); err != nil {
			t.Fatalf("refused with %d: %v", refusal, err)
		}
		if res.WebhooksCreated != 25 || res.RefusedStatus != refusal || !strings.Contains(res.RefusedMessage, "the most it may have") {
			t.Errorf("refused with %d: created %d, refused %d %q; want 25, then %d and the message",
				refusal, res.WebhooksCreated, res.RefusedStatus, res.RefusedMessage, refusal)
		}
		if calls > 25+8+25/6+8 { // the 25 created, one refusal per client, the 429s
			t.Errorf("refused with %d: %d calls, want creation to stop at the refusal", refusal, calls)
		}
	}
}

// TestCreateHostileWebhooksFailsOnOtherErrors does not take a 500 for the cap.
func TestCreateHostileWebhooksFailsOnOtherErrors(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(api.Close)
	b := &harness{client: &http.Client{Timeout: 10 * time.Second}}
	res := &HostileResult{WebhooksWanted: 10}
	if err := b.createHostileWebhooks(t.Context(), api.URL, "k", "http://127.0.0.1:9", res); err == nil || res.RefusedStatus != 0 {
		t.Errorf("error %v, refused %d; want an error and no refusal", err, res.RefusedStatus)
	}
}
