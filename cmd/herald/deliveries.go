package main

import (
	"context"
	"fmt"
	"io"

	"github.com/heraldhq/herald"
)

// deliveriesCommand is `herald deliveries`: one delivery, read or sent again.
var deliveriesCommand = &clientGroup{
	name:    "deliveries",
	summary: "Show, retry or skip one delivery (one event to one webhook) of a running Herald server.",
	commands: []clientSubcommand{
		{"get", "ID", "Show a delivery and each of its attempts.", deliveriesGet},
		{"retry", "ID", "Send a delivery again now, whatever its state, and show it; fails when the new attempt does.", deliveriesRetry},
		{"skip", "ID", "Give a pending delivery up without sending it (failed, \"skipped by hand\"), releasing its ordering key, and show it.", deliveriesSkip},
	},
}

// runDeliveries runs `herald deliveries`.
func runDeliveries(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return deliveriesCommand.run(ctx, args, stdout, stderr, getenv)
}

func deliveriesGet(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	d, err := c.api.Deliveries.Get(c.capture(ctx), ids[0])
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) { writeDelivery(w, d) })
}

func deliveriesRetry(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	d, err := c.api.Deliveries.Retry(c.capture(ctx), ids[0])
	if err != nil {
		return failed(err)
	}
	if err := c.show(func(w io.Writer) { writeDelivery(w, d) }); err != nil {
		return err
	}
	if n := len(d.Attempts); n == 0 || !d.Attempts[n-1].Success {
		// The API answers after the new attempt, which is the last one.
		return fmt.Errorf("the new attempt of delivery %s failed", d.ID)
	}
	return nil
}

func deliveriesSkip(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	d, err := c.api.Deliveries.Skip(c.capture(ctx), ids[0])
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) { writeDelivery(w, d) })
}

// writeDelivery writes a delivery as NAME value lines, then a table of its attempts.
func writeDelivery(w io.Writer, d *herald.Delivery) {
	fmt.Fprintf(w, "ID\t%s\n", d.ID)
	fmt.Fprintf(w, "EVENT\t%s\n", d.EventID)
	fmt.Fprintf(w, "EVENT TYPE\t%s\n", d.EventType)
	fmt.Fprintf(w, "WEBHOOK\t%s\n", d.WebhookID)
	fmt.Fprintf(w, "TENANT\t%s\n", d.TenantID)
	if d.OrderingKey != "" {
		fmt.Fprintf(w, "ORDERING KEY\t%s\n", d.OrderingKey)
	}
	fmt.Fprintf(w, "STATUS\t%s\n", showStatus(d))
	fmt.Fprintf(w, "ATTEMPTS\t%d\n", d.AttemptCount)
	fmt.Fprintf(w, "NEXT ATTEMPT\t%s\n", showTimePtr(d.NextAttemptAt))
	fmt.Fprintf(w, "LAST ERROR\t%s\n", cell(d.LastError))
	fmt.Fprintf(w, "CREATED\t%s\n", showTime(d.CreatedAt))
	fmt.Fprintf(w, "UPDATED\t%s\n", showTime(d.UpdatedAt))
	if len(d.Attempts) == 0 {
		fmt.Fprintln(w, "\nNo attempts yet.")
		return
	}
	fmt.Fprintln(w, "\nATTEMPT\tTIME\tSTATUS CODE\tDURATION\tERROR")
	for _, a := range d.Attempts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", a.Number, showTime(a.At), showStatusCode(a.StatusCode),
			showDuration(a.DurationMS), cell(a.Error))
	}
}

// writeDeliveryRows writes deliveries as a table, one row each, with the webhook of each
// when they are not all one webhook's.
func writeDeliveryRows(w io.Writer, ds []herald.Delivery, withWebhook bool) {
	webhookColumn := func(s string) string {
		if withWebhook {
			return s + "\t"
		}
		return ""
	}
	fmt.Fprintf(w, "DELIVERY\t%sEVENT TYPE\tSTATUS\tATTEMPTS\tLAST STATUS CODE\tCREATED\tNEXT ATTEMPT\tLAST ERROR\n",
		webhookColumn("WEBHOOK"))
	for _, d := range ds {
		last := "-"
		if n := len(d.Attempts); n > 0 {
			last = showStatusCode(d.Attempts[n-1].StatusCode)
		}
		fmt.Fprintf(w, "%s\t%s%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, webhookColumn(d.WebhookID), d.EventType, showStatus(&d),
			d.AttemptCount, last, showTime(d.CreatedAt), showTimePtr(d.NextAttemptAt), cell(d.LastError))
	}
}

// showStatus is a delivery's status as people read it: a pending delivery that failed
// already is retrying, not merely pending.
func showStatus(d *herald.Delivery) string {
	if d.Retrying() {
		return string(herald.StatusRetrying)
	}
	return string(d.Status)
}
