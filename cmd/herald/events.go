package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/heraldhq/herald/client"
)

// eventsCommand is `herald events`: publish events and read them back.
var eventsCommand = &clientGroup{
	name:    "events",
	summary: "Publish events to a running Herald server, and read them back with their deliveries.",
	commands: []clientSubcommand{
		{"publish", "--type T --data FILE|- [--tenant T] [--id ID] [--idempotency-key K] [--channel C]... [--ordering-key K]",
			"Publish an event (admin key). A repeated --id or --idempotency-key within 24 h is a duplicate: nothing is sent again.", eventsPublish},
		{"get", "ID", "Show an event and its deliveries.", eventsGet},
	},
}

// runEvents runs `herald events`.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return eventsCommand.run(ctx, args, stdout, stderr, getenv)
}

// routingFlags adds --channel and --ordering-key, which fill req once parsed.
func routingFlags(c *clientCommand, req *client.Event) *listFlag {
	var channels listFlag
	c.flags.Var(&channels, "channel", "a `channel` the event is on; repeat for more")
	c.flags.StringVar(&req.OrderingKey, "ordering-key", "", "the event's ordering `key`: webhooks with ordering key send the events sharing it one at a time, in order")
	return &channels
}

func eventsPublish(ctx context.Context, c *clientCommand, args []string) error {
	var req client.Event
	var dataPath, idempotencyKey string
	c.flags.StringVar(&req.Type, "type", "", "the event `type`, from the catalog (required)")
	c.flags.StringVar(&dataPath, "data", "", "`file` holding the event's data as JSON, or - for stdin (required)")
	c.flags.StringVar(&req.TenantID, "tenant", "", "the `tenant` whose webhooks receive it (default the default tenant)")
	c.flags.StringVar(&req.ID, "id", "", "your `id` for the event (default a new evt_ id)")
	c.flags.StringVar(&idempotencyKey, "idempotency-key", "", "a `key` that makes a repeat of this request a duplicate")
	channels := routingFlags(c, &req)
	if _, err := c.parse(args); err != nil {
		return err
	}
	req.Channels = *channels
	if req.Type == "" || dataPath == "" {
		return errors.New("events publish: --type and --data are required (--data - reads stdin)")
	}
	data, err := readData(dataPath)
	if err != nil {
		return err
	}
	req.Data = data
	return publish(ctx, c, req, idempotencyKey)
}

// publish publishes one event and says what came of it: its id, how many deliveries, and
// whether it repeated an earlier one. Without an idempotency key the client makes one,
// so that its retries never publish twice.
func publish(ctx context.Context, c *clientCommand, req client.Event, idempotencyKey string) error {
	res, err := c.api.Events.Publish(c.capture(ctx), req, client.PublishOptions{IdempotencyKey: idempotencyKey})
	if err != nil {
		return failed(err)
	}
	duplicate := res.Duplicate
	if duplicate && c.output == "json" {
		// The API's JSON does not say it; stdout stays that JSON for scripts.
		fmt.Fprintf(c.stderr, "herald: event %s is a duplicate: published before, nothing sent again\n", res.ID)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "EVENT\t%s\n", res.ID)
		fmt.Fprintf(w, "TYPE\t%s\n", req.Type)
		fmt.Fprintf(w, "DELIVERIES\t%d\n", res.Deliveries)
		if duplicate {
			fmt.Fprintf(w, "DUPLICATE\tyes: published before with this id or idempotency key; nothing sent again\n")
		} else {
			fmt.Fprintf(w, "DUPLICATE\tno\n")
		}
	})
}

func eventsGet(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	ev, err := c.api.Events.Get(c.capture(ctx), ids[0])
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "ID\t%s\n", ev.ID)
		fmt.Fprintf(w, "TYPE\t%s\n", ev.Type)
		fmt.Fprintf(w, "TENANT\t%s\n", ev.TenantID)
		if len(ev.Channels) > 0 {
			fmt.Fprintf(w, "CHANNELS\t%s\n", strings.Join(ev.Channels, ", "))
		}
		if ev.OrderingKey != "" {
			fmt.Fprintf(w, "ORDERING KEY\t%s\n", cell(ev.OrderingKey))
		}
		fmt.Fprintf(w, "TIMESTAMP\t%s\n", showTime(ev.Timestamp))
		fmt.Fprintf(w, "CREATED\t%s\n", showTime(ev.CreatedAt))
		fmt.Fprintf(w, "DATA\t%s\n", cell(string(ev.Data)))
		if len(ev.Deliveries) == 0 {
			fmt.Fprintln(w, "\nNo deliveries: no webhook was subscribed.")
			return
		}
		fmt.Fprintln(w)
		writeDeliveryRows(w, ev.Deliveries, true)
	})
}
