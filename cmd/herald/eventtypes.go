package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// apiEventType is one entry of the API's catalog.
type apiEventType struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Sample      json.RawMessage `json:"sample"`
}

// eventTypes fetches the catalog: the whole answer, and its entries.
func eventTypes(ctx context.Context, api *apiClient) (*apiAnswer, []apiEventType, error) {
	ans, err := api.call(ctx, http.MethodGet, "/api/v1/event-types", nil, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	var types []apiEventType
	if err := ans.decode(&types); err != nil {
		return nil, nil, err
	}
	return ans, types, nil
}

func eventTypesList(ctx context.Context, c *clientCommand, args []string) error {
	if _, err := c.parse(args); err != nil {
		return err
	}
	ans, types, err := eventTypes(ctx, c.api)
	if err != nil {
		return err
	}
	return c.show(ans.body, func(w io.Writer) {
		fmt.Fprintln(w, "TYPE\tDESCRIPTION")
		for _, t := range types {
			fmt.Fprintf(w, "%s\t%s\n", t.Type, cell(t.Description))
		}
	})
}
