package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalWebhookAuthInBrowser: in a real browser the form shows only the chosen
// method's fields, a webhook created with a bearer token gets its ping with it, and
// the webhook's page shows the method but not the token.
func TestPortalWebhookAuthInBrowser(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)
	b := newBrowser(t, srv.URL)
	b.do("open the sign-in page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#api_key")))
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#api_key"), testAdminKey),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)), chromedp.WaitVisible(chromedp.CSS(".tiles")))

	b.open("/webhooks/new")
	b.do("no method's fields show before one is chosen",
		chromedp.WaitNotVisible(chromedp.CSS("#auth_token")), chromedp.WaitNotVisible(chromedp.CSS("#auth_password")))
	b.do("choose bearer",
		chromedp.SetValue(chromedp.CSS("#auth_type"), "bearer"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("auth_type").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.CSS("#auth_token")))
	b.do("only bearer's fields show",
		chromedp.WaitNotVisible(chromedp.CSS("#auth_password")), chromedp.WaitNotVisible(chromedp.CSS("#auth_certificate")))
	b.screenshot("webhook-new-auth")
	b.do("fill in and create",
		chromedp.SendKeys(chromedp.CSS("#name"), "Behind a token"),
		chromedp.SendKeys(chromedp.CSS("#url"), rc.URL+"/hook"),
		chromedp.SendKeys(chromedp.CSS("#auth_token"), "br0wser-t0ken"),
		chromedp.Click(chromedp.CSS("form.form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	got := rc.waitFor(t, 1, 10*time.Second)
	if h := got[0].Header.Get("Authorization"); h != "Bearer br0wser-t0ken" {
		t.Fatalf("the ping came with Authorization %q, want the token typed in the form", h)
	}
	b.do("go to the webhook", chromedp.Click(chromedp.CSS(`a.button[href^="/webhooks/wh_"]`)), chromedp.WaitVisible(chromedp.CSS("#auth")))
	if text := b.text(); !strings.Contains(text, "Bearer token") || strings.Contains(text, "br0wser-t0ken") {
		t.Fatalf("the webhook's page should show the method and not the token:\n%s", text)
	}
}
