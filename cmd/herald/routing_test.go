package main

import (
	"strings"
	"testing"
)

func TestClientRouting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)

	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "critical",
		"--events", "drift.detected", "--filter", `data.severity == "critical"`, "--channel", "prod", "--channel", "eu",
		"--ordering", "key", "--wait", "0")
	id := field(t, out, "ID")
	if field(t, out, "FILTER") != `data.severity == "critical"` || field(t, out, "CHANNELS") != "prod, eu" || field(t, out, "ORDERING") != "key" {
		t.Fatalf("create with routing flags:\n%s", out)
	}
	if _, _, err := cli(t, srv, testAdminKey, "webhooks", "update", id, "--filter", "data.sevrity == 1"); err == nil ||
		!strings.Contains(err.Error(), "data.sevrity") {
		t.Fatalf("update with a misspelt field: %v, want the server's 422 naming it", err)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--channel", "", "--ordering", "none")
	if field(t, out, "CHANNELS") != "every channel" || field(t, out, "ORDERING") != "none" {
		t.Fatalf("update clearing channels:\n%s", out)
	}
	mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--channel", "prod")

	// On another channel: not for this webhook. On prod: one delivery.
	out = mustCLI(t, srv, testAdminKey, "trigger", "drift.detected", "--channel", "staging")
	if field(t, out, "DELIVERIES") != "0" {
		t.Fatalf("trigger on staging:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "trigger", "drift.detected", "--channel", "prod", "--ordering-key", "k1")
	if field(t, out, "DELIVERIES") != "1" {
		t.Fatalf("trigger on prod:\n%s", out)
	}
	evt := field(t, out, "EVENT")
	out = mustCLI(t, srv, testAdminKey, "events", "get", evt)
	if field(t, out, "CHANNELS") != "prod" || field(t, out, "ORDERING KEY") != "k1" {
		t.Fatalf("events get: want its channel and ordering key:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "deliveries", id, "--channel", "staging")
	if !strings.Contains(out, "No deliveries.") {
		t.Fatalf("deliveries on staging: want none, the event was on prod:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "deliveries", id, "--channel", "prod")
	if strings.Contains(out, "No deliveries.") || !strings.Contains(out, "drift.detected") {
		t.Fatalf("deliveries on prod: want the event's:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "replay", id, "--since", "1h", "--type", "drift.detected")
	if field(t, out, "REPLAYED") != "1" {
		t.Fatalf("replay of the last hour: want the one event on prod:\n%s", out)
	}
	if _, _, err := cli(t, srv, testAdminKey, "webhooks", "replay", id); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("replay without --since: %v", err)
	}
}
