package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/webhook"
)

// TestPortalSelfServiceInBrowser is a customer's visit, signed in with its tenant's
// key, in real Chromium: it creates an endpoint choosing an event type from the
// catalog, reads how to verify, shows the secret after confirming, sends a test of its
// type (verified with that secret, as its receiver would), finds the test in the log by
// its event id, and rotates the secret.
func TestPortalSelfServiceInBrowser(t *testing.T) {
	if os.Getenv("HERALD_TEST_CHROMIUM") == "" {
		t.Skip("set HERALD_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run the portal's browser tests")
	}
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)
	var team struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/tenants", testAdminKey, map[string]string{"name": "Acme"}, &team); code != http.StatusCreated {
		t.Fatalf("create tenant: %d", code)
	}
	b := newBrowser(t, srv.URL)
	b.do("open the sign-in page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#api_key")))
	b.do("sign in as the customer", chromedp.SendKeys(chromedp.CSS("#api_key"), team.APIKey),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)), chromedp.WaitVisible(chromedp.CSS(".tiles")))

	// Create: the event type is chosen from the catalog, its sample shown.
	b.open("/webhooks/new")
	b.do("fill in the endpoint",
		chromedp.SendKeys(chromedp.CSS("#name"), "Drift to Slack"),
		chromedp.SendKeys(chromedp.CSS("#url"), rc.URL+"/hook"),
		chromedp.SetValue(chromedp.CSS("#format"), "infraaudit"),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="some"]`)),
		chromedp.Click(chromedp.CSS(`input[name="events"][value="drift.detected"]`)),
		chromedp.Click(chromedp.CSS(`li.type-choice:has(input[value="drift.detected"]) summary`)),
		chromedp.WaitVisible(chromedp.CSS(`li.type-choice:has(input[value="drift.detected"]) pre.code`)))
	if page := b.text(); !strings.Contains(page, "data-lake-bucket") {
		t.Fatalf("the form does not show drift.detected's sample:\n%s", page)
	}
	b.screenshot("selfservice-new")
	b.do("create it", chromedp.Click(chromedp.CSS("form.form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	created := strings.TrimSpace(b.textOf("#secret-value"))
	if !strings.HasPrefix(created, "whsec_") {
		t.Fatalf("the created page shows %q, want a whsec_ secret", created)
	}
	b.do("go to the endpoint", chromedp.Click(chromedp.CSS(`a.button[href^="/webhooks/wh_"]:not([href$="#verify"])`)),
		chromedp.WaitVisible(chromedp.CSS("#send-test")))
	hookPath := strings.TrimPrefix(b.location(), srv.URL)

	// How to verify: the infraaudit headers and key, and the receivers.
	guide := b.textOf("#verify")
	for _, want := range []string{"X-InfraAudit-Signature", "whsec_ included", "Go", "Python", "Node.js"} {
		if !strings.Contains(guide, want) {
			t.Errorf("How to verify lacks %q:\n%s", want, guide)
		}
	}
	b.screenshot("selfservice-webhook")
	if os.Getenv("HERALD_TEST_UPDATE_DOCS") != "" {
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#verify")))
		cancel()
		if err != nil {
			t.Fatalf("screenshot How to verify: %v", err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "portal-verify.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Reveal, behind a confirmation.
	b.do("ask to show the secret", chromedp.Click(chromedp.CSS("#reveal")), chromedp.WaitVisible(chromedp.CSS("#reveal-confirm")))
	if page := b.text(); strings.Contains(page, created) {
		t.Fatal("the confirmation shows the secret before it is confirmed")
	}
	b.screenshot("selfservice-reveal-confirm")
	b.do("confirm", chromedp.Click(chromedp.CSS("#reveal-confirm")), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	revealed := strings.TrimSpace(b.textOf("#secret-value"))
	if revealed != created {
		t.Fatalf("revealed %q, want the secret shown at creation %q", revealed, created)
	}
	b.screenshot("selfservice-revealed")

	// A test of the subscribed type, to this endpoint: it verifies with the revealed
	// secret, as the customer's receiver will.
	before := len(rc.requests())
	b.open(hookPath)
	b.do("send a drift.detected test",
		chromedp.SetValue(chromedp.CSS("#test-type"), "drift.detected"),
		chromedp.Click(chromedp.CSS("#send-test")),
		chromedp.WaitVisible(chromedp.CSS("#test-result .result")))
	if result := b.textOf("#test-result"); !strings.Contains(result, "Test drift.detected delivered") {
		t.Fatalf("the test result reads:\n%s", result)
	}
	got := rc.waitFor(t, before+1, 10*time.Second)
	last := got[len(got)-1]
	v, err := webhook.NewVerifier(webhook.FormatInfraAudit, revealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(last.Header, last.Body); err != nil {
		t.Errorf("the test does not verify with the revealed secret: %v", err)
	}
	ev, err := webhook.Parse(webhook.FormatInfraAudit, last.Header, last.Body)
	if err != nil || ev.Type != "drift.detected" || !strings.Contains(string(ev.Data), "data-lake-bucket") {
		t.Fatalf("the test delivered %+v (err %v), want drift.detected's sample", ev, err)
	}
	b.screenshot("selfservice-tested")

	// Find it in the log by its event id.
	var d struct {
		EventID string `json:"event_id"`
	}
	if code := api(t, srv.URL, http.MethodGet, "/api/v1/deliveries/"+ev.DeliveryID, team.APIKey, nil, &d); code != http.StatusOK {
		t.Fatalf("get the test's delivery: %d", code)
	}
	b.do("search the log",
		chromedp.SendKeys(chromedp.CSS("#f-event"), d.EventID),
		chromedp.Click(chromedp.CSS(`form[aria-label="Filter deliveries"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-event[value="`+d.EventID+`"]`)))
	log := b.textOf("table.log tbody")
	if !strings.Contains(log, ev.DeliveryID) || strings.Count(log, "del_") != 1 {
		t.Errorf("the log searched for %s shows:\n%s", d.EventID, log)
	}
	b.screenshot("selfservice-search")

	// Rotate with a grace period: the new secret, and the old one still signing.
	b.open(hookPath)
	b.do("rotate", chromedp.Click(chromedp.CSS("#rotate")), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	if rotated := strings.TrimSpace(b.textOf("#secret-value")); rotated == created || !strings.HasPrefix(rotated, "whsec_") {
		t.Errorf("after rotating the page shows %q", rotated)
	}
	b.checkRequests()
	t.Logf("screenshots in %s", b.artifacts)
}

// textOf returns the text of the first element sel matches.
func (b *browserSession) textOf(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// location returns the page's address.
func (b *browserSession) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("read the location: %v", err)
	}
	return s
}
