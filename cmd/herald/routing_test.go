package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// TestPortalFilterCheckInBrowser drives the endpoint form's live filter check in a real
// Chromium: the verdict appears in place (htmx), without leaving the form.
func TestPortalFilterCheckInBrowser(t *testing.T) {
	if os.Getenv("HERALD_TEST_CHROMIUM") == "" {
		t.Skip("set HERALD_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run the portal's browser tests")
	}
	srv := startServer(t, t.TempDir())
	b := newBrowser(t, srv.URL)
	b.do("sign in", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#api_key")),
		chromedp.SendKeys(chromedp.CSS("#api_key"), testAdminKey),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)), chromedp.WaitVisible(chromedp.CSS(".tiles")))
	b.open("/webhooks/new")
	check := func(filter, want string) {
		t.Helper()
		b.do("test the filter "+filter,
			chromedp.SetValue(chromedp.CSS("#filter"), filter),
			chromedp.SetValue(chromedp.CSS("#filter-type"), "drift.detected"),
			chromedp.Click(chromedp.CSS("#test-filter")),
			chromedp.WaitVisible(chromedp.CSS("#filter-verdict")))
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("#filter-result")))
			if err == nil && strings.Contains(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("filter %q: the verdict reads %q, want %q", filter, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err != nil || loc != srv.URL+"/webhooks/new" {
			t.Fatalf("after the check the browser is at %q (%v), want still on the form", loc, err)
		}
	}
	check(`data.severity == "critical"`, "Matches the sample of drift.detected")
	check(`data.severity == "low"`, "Does not match")
	check(`data.sevrity == "low"`, "data.sevrity")
	b.screenshot("webhook-filter-check")
}
