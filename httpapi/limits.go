package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald"
)

// reserveWebhook refuses, with ECONFLICT, a new webhook for a tenant that has as many
// as the server allows one tenant; otherwise the caller creates it and then calls
// done. The default tenant (the admin's own) is exempt.
//
// Creations of capped tenants in this process wait for each other from the count to
// done, so here the limit holds exactly. Processes sharing a PostgreSQL database each
// count on their own, so creations racing across processes can overshoot it by a few.
// The limit is there to bound what one tenant can make the dispatcher carry, which a
// few more do not change.
func (s *server) reserveWebhook(ctx context.Context, tenantID string) (done func(), err error) {
	if s.maxWebhooks <= 0 || tenantID == herald.DefaultTenantID {
		return func() {}, nil
	}
	s.quotaMu.Lock()
	_, total, err := s.store.Webhooks(ctx, herald.WebhookFilter{TenantID: tenantID, Page: 1, PerPage: 1})
	if err != nil {
		s.quotaMu.Unlock()
		return nil, err
	}
	if total >= s.maxWebhooks {
		s.quotaMu.Unlock()
		return nil, herald.Errorf(herald.ECONFLICT, "tenant %q has %d webhooks, the most one tenant may have (%d): delete one first, "+
			"or ask the operator to raise --max-webhooks-per-tenant (HERALD_MAX_WEBHOOKS_PER_TENANT)", tenantID, total, s.maxWebhooks)
	}
	return s.quotaMu.Unlock, nil
}

// protectMetrics serves /metrics only to the admin key or the metrics token, sent as
// Authorization: Bearer, unless the metrics are public: their per-type and per-route
// counters let a tenant infer other tenants' volumes.
func (s *server) protectMetrics(reg *prometheus.Registry, public bool, token string) http.Handler {
	metrics := serveMetrics(reg)
	if public {
		return metrics
	}
	tokenHash := []byte(nil)
	if token != "" {
		tokenHash = herald.HashKey(token)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := apiKey(r.Header.Get("Authorization"), "")
		if ok {
			hash := herald.HashKey(key)
			// Both compared whatever the first says, in constant time.
			admin := len(s.adminHash) > 0 && subtle.ConstantTimeCompare(hash, s.adminHash) == 1
			scraper := tokenHash != nil && subtle.ConstantTimeCompare(hash, tokenHash) == 1
			if admin || scraper {
				metrics.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald-metrics"`)
		writeError(w, answer(herald.Errorf(herald.EUNAUTHORIZED,
			"/metrics needs Authorization: Bearer with the admin key or the metrics token (--metrics-token), unless the server runs with --metrics-public")))
	})
}
