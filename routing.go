package herald

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxChannels is how many channels an event or a webhook may name.
const MaxChannels = 10

// MaxChannelLength is the longest channel name, in bytes.
const MaxChannelLength = 128

// channelName is the shape of a channel: lowercase letters, digits and . _ : -.
var channelName = regexp.MustCompile(`^[a-z0-9._:-]{1,128}$`)

// ValidateChannels checks the channels of an event or a webhook (what says which, for
// the message): at most MaxChannels, each matching ^[a-z0-9._:-]{1,128}$. Repeats are
// allowed and harmless.
func ValidateChannels(what string, channels []string) error {
	if len(channels) > MaxChannels {
		return Errorf(EINVALID, "%s has %d channels; the limit is %d", what, len(channels), MaxChannels)
	}
	for i, c := range channels {
		if !channelName.MatchString(c) {
			return Errorf(EINVALID, "%s channel %d (%q) is not a channel name: use 1 to %d of a-z, 0-9, '.', '_', ':' and '-'",
				what, i+1, c, MaxChannelLength)
		}
	}
	return nil
}

// SharesChannel reports whether the webhook takes an event on channels: a webhook
// without channels takes every event, one with channels only events that share at
// least one of them.
func (w *Webhook) SharesChannel(channels []string) bool {
	if len(w.Channels) == 0 {
		return true
	}
	for _, c := range channels {
		if slices.Contains(w.Channels, c) {
			return true
		}
	}
	return false
}

// Matcher evaluates webhooks' content filters (Webhook.Filter) at fan-out. The filter
// package implements it; the root only asks it.
type Matcher interface {
	// For returns a function that reports whether e passes a filter, given its text
	// (never ""). A filter that does not compile or evaluate, or that yields anything
	// but true, does not pass. The function is called once per filtered webhook, so
	// For does once what every filter shares (decoding e's data).
	For(e *Event) func(filter string) bool
}

// Routes reports whether e goes to w by w's types, channels and filter, with the
// filter evaluated by match (from Matcher.For(e); nil means no filter passes). It is
// the rule of fan-out and of replay; a Target publication bypasses it.
func (w *Webhook) Routes(e *Event, match func(filter string) bool) bool {
	if !w.Subscribes(e.Type) || !w.SharesChannel(e.Channels) {
		return false
	}
	if w.Filter == "" {
		return true
	}
	return match != nil && match(w.Filter)
}

// ReplayBatch is how many events Replay examines in one call when the request does not
// say: a short transaction, so replaying a large window holds up neither publishing nor
// dispatching.
const ReplayBatch = 500

// ReplayRequest asks Store.Replay for one batch of a replay: new deliveries to one
// webhook of its tenant's stored events created in [Since, Until) that it takes now
// (Webhook.Routes with its current types, channels and filter), of Types when given,
// and when OnlyFailed only those whose latest delivery to the webhook failed.
type ReplayRequest struct {
	WebhookID  string
	Since      time.Time
	Until      time.Time
	Types      []string
	OnlyFailed bool
	// Now is when the replayed deliveries are created and due.
	Now time.Time
	// Limit bounds the events examined: ReplayBatch when not above zero.
	Limit int
	// After is where the walk resumes: the previous batch's Next, zero at first.
	After PurgeCursor
}

// ReplayResult says what one Replay call did and where the walk stands.
type ReplayResult struct {
	Replayed int // deliveries created
	Skipped  int // events the webhook takes whose data retention removed
	// DeliveryIDs are the deliveries created, in event order.
	DeliveryIDs []string
	// Next is the After of the next batch.
	Next PurgeCursor
	// Done says the walk reached Until: no batch is left.
	Done bool
}

// ReplayCandidate is a stored event of a replay's window as a store reads it: with its
// data (JSON null once retention removed it) and the status of its latest delivery to
// the webhook ("" for none).
type ReplayCandidate struct {
	Event        Event
	LatestStatus DeliveryStatus
}

// ReplayDecision is what PlanReplay decides for one candidate.
type ReplayDecision int

// Replay decisions.
const (
	ReplayIgnore ReplayDecision = iota // not for this webhook or this request
	ReplaySend                         // a new delivery
	ReplaySkip                         // for it, but its data is gone
)

// PlanReplay decides, for each candidate, what a replay to w does: the one rule both
// stores apply. Pings are never replayed; an event is sent again when w takes it now
// (Routes, its filter evaluated by m), it is of one of r.Types (when given), and, for
// r.OnlyFailed, its latest delivery to w failed; it is skipped instead when retention
// removed its data.
func PlanReplay(w *Webhook, r *ReplayRequest, cs []ReplayCandidate, m Matcher) []ReplayDecision {
	out := make([]ReplayDecision, len(cs))
	for i := range cs {
		e := &cs[i].Event
		if e.Type == PingType || (len(r.Types) > 0 && !slices.Contains(r.Types, e.Type)) {
			continue
		}
		if r.OnlyFailed && cs[i].LatestStatus != StatusFailed {
			continue
		}
		var match func(string) bool
		if m != nil && w.Filter != "" {
			match = m.For(e)
		}
		if !w.Routes(e, match) {
			continue
		}
		if purged(e.Data) {
			out[i] = ReplaySkip
			continue
		}
		out[i] = ReplaySend
	}
	return out
}

// ValidateReplayTarget checks that w takes replayed deliveries: a disabled webhook takes
// none until it is enabled, which the error (ECONFLICT) says.
func ValidateReplayTarget(w *Webhook) error {
	if !w.Enabled {
		return Errorf(ECONFLICT, "webhook %q is disabled: enable it before replaying events to it", w.ID)
	}
	return nil
}

// Start is where a batch of the replay walks from, exclusive: After, or at first just
// before Since, so the window's first event is included.
func (r *ReplayRequest) Start() PurgeCursor {
	if r.After.CreatedAt.IsZero() {
		return PurgeCursor{CreatedAt: r.Since.Add(-1)}
	}
	return r.After
}

// Advance moves res past a batch that read cs, the window's next events in order, with
// at most limit read: the next batch resumes after the last of them, and the walk is
// done when the batch found fewer than limit.
func (res *ReplayResult) Advance(cs []ReplayCandidate, limit int) {
	if len(cs) > 0 {
		last := cs[len(cs)-1].Event
		res.Next = PurgeCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	res.Done = len(cs) < limit
}

// purged reports whether data is what retention leaves: JSON null, or nothing.
func purged(data []byte) bool {
	s := strings.TrimSpace(string(data))
	return s == "" || s == "null"
}

// ValidateReplay checks a replay request: a webhook, a window that is not empty.
func ValidateReplay(r *ReplayRequest) error {
	if r.Since.IsZero() {
		return Errorf(EINVALID, "since is required: the start of the window of events to replay")
	}
	if !r.Until.After(r.Since) {
		return Errorf(EINVALID, "until (%s) must be after since (%s)", r.Until.Format(time.RFC3339), r.Since.Format(time.RFC3339))
	}
	return nil
}
