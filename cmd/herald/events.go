package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/heraldhq/herald"
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

// publishRequest is the body of POST /api/v1/events.
type publishRequest struct {
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	TenantID string          `json:"tenant_id,omitempty"`
	ID       string          `json:"id,omitempty"`
	// Channels and OrderingKey route the event (--channel, --ordering-key).
	Channels    []string `json:"channels,omitempty"`
	OrderingKey string   `json:"ordering_key,omitempty"`
}

// routingFlags adds --channel and --ordering-key, which fill req once parsed.
func routingFlags(c *clientCommand, req *publishRequest) *listFlag {
	var channels listFlag
	c.flags.Var(&channels, "channel", "a `channel` the event is on; repeat for more")
	c.flags.StringVar(&req.OrderingKey, "ordering-key", "", "the event's ordering `key`: webhooks with ordering key send the events sharing it one at a time, in order")
	return &channels
}

func eventsPublish(ctx context.Context, c *clientCommand, args []string) error {
	var req publishRequest
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
	var err error
	if req.Data, err = readData(dataPath); err != nil {
		return err
	}
	return publish(ctx, c, req, idempotencyKey)
}

// publish publishes one event and says what came of it: its id, how many deliveries, and
// whether it repeated an earlier one (200 rather than 202).
func publish(ctx context.Context, c *clientCommand, req publishRequest, idempotencyKey string) error {
	var header http.Header
	if idempotencyKey != "" {
		header = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	ans, err := c.api.call(ctx, http.MethodPost, "/api/v1/events", nil, header, req)
	if err != nil {
		return err
	}
	var res struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	if err := ans.decode(&res); err != nil {
		return err
	}
	duplicate := ans.status == http.StatusOK
	if duplicate && c.output == "json" {
		// The API's JSON does not say it; stdout stays that JSON for scripts.
		fmt.Fprintf(c.stderr, "herald: event %s is a duplicate: published before, nothing sent again\n", res.ID)
	}
	return c.show(ans.body, func(w io.Writer) {
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
	ans, err := c.api.call(ctx, http.MethodGet, pathID("/api/v1/events", ids[0]), nil, nil, nil)
	if err != nil {
		return err
	}
	var ev struct {
		herald.Event
		Deliveries []herald.Delivery `json:"deliveries"`
	}
	if err := ans.decode(&ev); err != nil {
		return err
	}
	return c.show(ans.body, func(w io.Writer) {
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
