package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhq/herald/client"
)

// writeRouting prints a webhook's filter, channels and ordering.
func writeRouting(w io.Writer, wh *client.Webhook) {
	fmt.Fprintf(w, "FILTER\t%s\n", cell(wh.Filter))
	channels := "every channel"
	if len(wh.Channels) > 0 {
		channels = strings.Join(wh.Channels, ", ")
	}
	fmt.Fprintf(w, "CHANNELS\t%s\n", channels)
	ordering := wh.Ordering
	if ordering == "" {
		ordering = "none"
	}
	fmt.Fprintf(w, "ORDERING\t%s\n", ordering)
}

// parseWhen reads a time flag: RFC 3339, or a duration before now ("24h").
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-12-01T00:00:00Z) or a duration before now (24h)", flag, v)
}

func webhooksReplay(ctx context.Context, c *clientCommand, args []string) error {
	var since, until string
	var types listFlag
	var onlyFailed bool
	c.flags.StringVar(&since, "since", "", "replay events created at or after this `time`: RFC 3339, or a duration before now such as 24h (required)")
	c.flags.StringVar(&until, "until", "", "…and before this `time` (default now)")
	c.flags.Var(&types, "type", "only events of this `type`; repeat for more (default every type the webhook subscribes to)")
	c.flags.BoolVar(&onlyFailed, "only-failed", false, "only events whose latest delivery to the webhook failed")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	if since == "" {
		return errors.New("webhooks replay: --since is required")
	}
	now := time.Now().UTC()
	r := client.Replay{Types: types, OnlyFailed: onlyFailed}
	if r.Since, err = parseWhen("since", since, now); err != nil {
		return err
	}
	if until != "" {
		to, err := parseWhen("until", until, now)
		if err != nil {
			return err
		}
		r.Until = &to
	}
	res, err := c.api.Webhooks.Replay(c.capture(ctx), ids[0], r)
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "REPLAYED\t%d\n", res.Replayed)
		fmt.Fprintf(w, "SKIPPED\t%d (data removed by retention)\n", res.Skipped)
		if !res.Complete && res.ResumeSince != nil {
			fmt.Fprintf(w, "\nThe window was too large for one request. Replay the rest with --since %s\n", res.ResumeSince.Format(time.RFC3339Nano))
		}
	})
}
