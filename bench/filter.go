package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// FilterResult is one event fanned out to many webhooks, first without filters, then
// with a content filter on every webhook that the event passes, so both fan-outs make
// the same deliveries and differ only by evaluating the filters.
type FilterResult struct {
	Webhooks int `json:"webhooks"`
	Rounds   int `json:"rounds"`
	// UnfilteredMS and FilteredMS are the median time to publish the event (the API's
	// 202: fan-out decided and every delivery stored), without and with filters.
	UnfilteredMS float64 `json:"unfiltered_publish_ms"`
	FilteredMS   float64 `json:"filtered_publish_ms"`
	// FirstFilteredMS is the first filtered publish: the API compiled the filters as it
	// accepted them, so it costs no more than the rest.
	FirstFilteredMS float64 `json:"first_filtered_publish_ms"`
	Ratio           float64 `json:"ratio"` // FilteredMS / UnfilteredMS
}

// filterFanOut measures what content filters add to a fan-out: one event published to
// a tenant with Webhooks webhooks without filters, then to a tenant with as many, each
// with a distinct filter the event passes, round after round in turn, so that whatever
// else loads the machine weighs on both alike. Every publish waits for the deliveries
// of the one before, so dispatching does not weigh on the publish it times.
func (b *harness) filterFanOut(ctx context.Context) (*FilterResult, error) {
	res := &FilterResult{Webhooks: 1000, Rounds: 15}
	if b.cfg.short {
		res.Webhooks, res.Rounds = 50, 3
	}
	// Two tenants of 1,000 webhooks each: past the default cap per tenant.
	s, err := b.servers(ctx, "filter", 1, "", "--max-webhooks-per-tenant", "0")
	if err != nil {
		return nil, err
	}
	defer s.stop()
	suffix := strings.ToLower(herald.NewID(""))
	plainTenant, filteredTenant := "bench_plain_"+suffix, "bench_filtered_"+suffix
	for _, t := range []string{plainTenant, filteredTenant} {
		if err := b.call(ctx, s, s.urls[0], "POST", "/api/v1/tenants", map[string]any{"id": t, "name": t}, nil); err != nil {
			return nil, fmt.Errorf("create tenant: %w", err)
		}
	}
	var ids []string
	defer func() { b.deleteWebhooks(ctx, s, ids) }()
	for _, filtered := range []bool{false, true} {
		created, err := b.createWebhooks(ctx, s, res.Webhooks, func(i int) string { return fmt.Sprintf("/filter/%d", i) }, func(i int) map[string]any {
			if !filtered {
				return map[string]any{"tenant_id": plainTenant}
			}
			// A distinct filter per webhook, as many owners would write: none shared.
			// The bench event passes every one.
			return map[string]any{"tenant_id": filteredTenant,
				"filter": fmt.Sprintf(`data.drift_id == 55 && data.resolved_by >= 0 && type.startsWith("drift.") && tenant_id != "t%d"`, i)}
		})
		ids = append(ids, created...)
		if err != nil {
			return nil, err
		}
	}
	idle := 2*time.Minute + time.Duration(res.Webhooks)*20*time.Millisecond
	if err := b.waitIdle(ctx, s, idle); err != nil {
		return nil, err
	}
	publish := func(tenant string) (time.Duration, error) {
		var out struct {
			Deliveries int `json:"deliveries"`
		}
		start := time.Now()
		err := b.call(ctx, s, s.urls[0], "POST", "/api/v1/events", newEvent(herald.NewID(herald.PrefixEvent), tenant), &out)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("publish to %s: %w", tenant, err)
		}
		if out.Deliveries != res.Webhooks {
			return 0, fmt.Errorf("publish to %s: %d deliveries, want %d: a filter refused the event", tenant, out.Deliveries, res.Webhooks)
		}
		return took, b.waitIdle(ctx, s, idle)
	}
	first, err := publish(filteredTenant)
	if err != nil {
		return nil, err
	}
	var plain, filtered []time.Duration
	for range res.Rounds {
		p, err := publish(plainTenant)
		if err != nil {
			return nil, err
		}
		f, err := publish(filteredTenant)
		if err != nil {
			return nil, err
		}
		plain, filtered = append(plain, p), append(filtered, f)
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	res.UnfilteredMS, res.FilteredMS, res.FirstFilteredMS = msOf(median(plain)), msOf(median(filtered)), msOf(first)
	if res.UnfilteredMS > 0 {
		res.Ratio = round(res.FilteredMS/res.UnfilteredMS, 2)
	}
	b.logf("  %d webhooks: publish %.1f ms unfiltered, %.1f ms filtered (first %.1f ms): %.2f×",
		res.Webhooks, res.UnfilteredMS, res.FilteredMS, res.FirstFilteredMS, res.Ratio)
	return res, nil
}
