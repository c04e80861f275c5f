package main

import (
	"context"
	"fmt"
	"io"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// runTrigger runs `herald trigger TYPE`: it publishes the catalog's sample of TYPE, or
// the data given, through the running server, to see what subscribed endpoints receive.
func runTrigger(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	c := newClientCommand("trigger", "TYPE [--tenant T] [--data FILE|-] [--channel C]... [--ordering-key K]",
		"Publish an event of TYPE with the catalog's sample data, or the data given, through the running server (admin key).",
		stdout, stderr, getenv)
	var req client.Event
	var dataPath string
	c.flags.StringVar(&req.TenantID, "tenant", "", "the `tenant` whose webhooks receive it (default the default tenant)")
	c.flags.StringVar(&dataPath, "data", "", "`file` holding the data as JSON, or - for stdin (default the type's sample)")
	channels := routingFlags(c, &req)
	types, err := c.parse(args, "TYPE")
	if err != nil {
		return helpIsNoError(err)
	}
	req.Channels = *channels
	req.Type = types[0]

	catalog, err := c.api.EventTypes.List(ctx)
	if err != nil {
		return failed(err)
	}
	var entry *herald.EventType
	for i := range catalog {
		if catalog[i].Type == req.Type {
			entry = &catalog[i]
			break
		}
	}
	if entry == nil {
		return fmt.Errorf("unknown event type %q: run 'herald event-types list' to see the types", req.Type)
	}
	if dataPath != "" {
		data, err := readData(dataPath)
		if err != nil {
			return err
		}
		req.Data = data
	} else {
		if len(entry.Sample) == 0 || string(entry.Sample) == "null" {
			return fmt.Errorf("event type %q has no sample in the catalog: pass --data FILE", req.Type)
		}
		req.Data = entry.Sample
	}
	return publish(ctx, c, req, "")
}
