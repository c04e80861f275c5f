package herald

import (
	"regexp"
	"slices"
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
