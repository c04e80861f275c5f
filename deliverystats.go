package herald

import (
	"math"
	"time"
)

// StatsFilter selects what a store's DeliveryStats summarises.
type StatsFilter struct {
	// TenantID limits everything to one tenant's deliveries and webhooks; "" is every
	// tenant.
	TenantID string
	// Since and Until bound the attempts counted: made at or after Since and before
	// Until. Both are required.
	Since time.Time
	Until time.Time
	// FailingLimit caps FailingWebhooks, the worst first; 0 means 10.
	FailingLimit int
}

// DeliveryStats is what happened to deliveries over a window of time and what is
// waiting now: the numbers of the portal's dashboard.
type DeliveryStats struct {
	// Minutes has one entry for each minute of the window in which an attempt was
	// made, oldest first; minutes without attempts are left out.
	Minutes []MinuteStats
	// Succeeded and Failed count the window's attempts by outcome.
	Succeeded int
	Failed    int
	// LatencyP50MS and LatencyP99MS are the nearest-rank 50th and 99th percentiles of
	// the window's attempt durations in milliseconds; 0 without attempts.
	LatencyP50MS int64
	LatencyP99MS int64
	// Pending counts the deliveries pending now (due or waiting for a retry), whenever
	// they were created.
	Pending int
	// FailingWebhooks are the webhooks whose latest attempts failed (one or more
	// consecutive failures), most consecutive failures first.
	FailingWebhooks []FailingWebhook
}

// MinuteStats counts the attempts made in one minute by outcome.
type MinuteStats struct {
	Minute    time.Time // the minute's start, UTC
	Succeeded int
	Failed    int
}

// FailingWebhook is a webhook whose latest attempts failed, as the dashboard lists it.
// It carries none of the webhook's secrets.
type FailingWebhook struct {
	ID                  string
	TenantID            string
	Name                string
	URL                 string
	Enabled             bool
	DisabledReason      string
	ConsecutiveFailures int
	FailingSince        *time.Time
	LastDeliveryAt      *time.Time
	LastError           string // the latest failed attempt's (see Webhook.LastError)
}

// DefaultFailingLimit is how many failing webhooks DeliveryStats returns when the
// filter does not say.
const DefaultFailingLimit = 10

// Checked returns f with its defaults filled in, or an EINVALID error when its window
// lacks an end or ends before it starts. Stores call it first.
func (f StatsFilter) Checked() (StatsFilter, error) {
	if f.Since.IsZero() || f.Until.IsZero() || !f.Since.Before(f.Until) {
		return f, Errorf(EINVALID, "delivery stats need a window with since before until")
	}
	if f.FailingLimit <= 0 {
		f.FailingLimit = DefaultFailingLimit
	}
	return f, nil
}

// NearestRank is the 1-based rank of the p-th quantile (0 < p ≤ 1) among n sorted
// values by the nearest-rank method: the smallest rank whose share of the values is at
// least p. It is at least 1 and at most n.
func NearestRank(p float64, n int) int {
	r := int(math.Ceil(p * float64(n)))
	return max(1, min(r, n))
}

// OutcomesFilter selects the deliveries DeliveryOutcomes counts: those of the listed
// webhooks created at or after Since, of one tenant or ("" for TenantID) any.
type OutcomesFilter struct {
	TenantID   string
	WebhookIDs []string // 1 to MaxOutcomeWebhooks ids
	Since      time.Time
}

// MaxOutcomeWebhooks bounds the webhooks one DeliveryOutcomes call counts: a page of a
// webhook list at most.
const MaxOutcomeWebhooks = 100

// DeliveryOutcomes counts one webhook's deliveries that were tried, by how they stand:
// those that succeeded, those that failed for good, and those retrying after a failed
// attempt (see StatusRetrying). A retrying delivery has not succeeded: an endpoint that
// answers only 500s has a success rate of 0, not none.
type DeliveryOutcomes struct {
	Succeeded int
	Failed    int
	Retrying  int
}

// Tried is how many deliveries o counts.
func (o DeliveryOutcomes) Tried() int { return o.Succeeded + o.Failed + o.Retrying }

// SuccessRate is the share of o's deliveries that succeeded, as a whole percentage
// rounded down (so 100 means every one), and 0 when none was tried.
func (o DeliveryOutcomes) SuccessRate() int {
	if o.Tried() == 0 {
		return 0
	}
	return o.Succeeded * 100 / o.Tried()
}

// Checked returns f, or an EINVALID error when it names no webhook, more than
// MaxOutcomeWebhooks, or no start. Stores call it first.
func (f OutcomesFilter) Checked() (OutcomesFilter, error) {
	if len(f.WebhookIDs) == 0 || len(f.WebhookIDs) > MaxOutcomeWebhooks {
		return f, Errorf(EINVALID, "delivery outcomes need 1 to %d webhook ids, not %d", MaxOutcomeWebhooks, len(f.WebhookIDs))
	}
	if f.Since.IsZero() {
		return f, Errorf(EINVALID, "delivery outcomes need a start time")
	}
	return f, nil
}
