package main

import (
	"context"
	"fmt"
	"io"
)

// eventTypesCommand is `herald event-types`: the event catalog.
var eventTypesCommand = &clientGroup{
	name:    "event-types",
	summary: "Read the event catalog of a running Herald server.",
	commands: []clientSubcommand{
		{"list", "", "List the event types, with what each is sent for.", eventTypesList},
	},
}

// runEventTypes runs `herald event-types`.
func runEventTypes(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return eventTypesCommand.run(ctx, args, stdout, stderr, getenv)
}

func eventTypesList(ctx context.Context, c *clientCommand, args []string) error {
	if _, err := c.parse(args); err != nil {
		return err
	}
	types, err := c.api.EventTypes.List(c.capture(ctx))
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintln(w, "TYPE\tDESCRIPTION")
		for _, t := range types {
			fmt.Fprintf(w, "%s\t%s\n", t.Type, cell(t.Description))
		}
	})
}
