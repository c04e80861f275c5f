package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// provider is a SaaS's own app on another site than Herald: its Settings → Webhooks
// page embeds the portal through a link its backend mints for the signed-in customer.
type provider struct {
	*httptest.Server
	herald string // where the backend reaches Herald, and so where links point
	team   string

	mu    sync.Mutex
	links []string // every link minted, in order
}

// settingsPage is the provider's backend minting a portal link, as a provider's
// documentation would show it, and the page embedding it.
func (pr *provider) settingsPage(w http.ResponseWriter, r *http.Request) {
	body := strings.NewReader(`{"ttl": "5m", "return_url": "` + pr.URL + `/settings"}`)
	req, _ := http.NewRequestWithContext(r.Context(), "POST", pr.herald+"/api/v1/tenants/"+pr.team+"/portal-links", body)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		http.Error(w, fmt.Sprintf("mint a portal link: %v %v", err, resp), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var link struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&link); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	pr.mu.Lock()
	pr.links = append(pr.links, link.URL)
	pr.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Settings · Acme Cloud</title>
<style>
body { margin: 0; font-family: system-ui, sans-serif; background: #eef1f4; color: #1b1f24; }
header { background: #0a7a55; color: #fff; padding: 14px 20px; font-weight: 700; font-size: 18px; }
.layout { display: flex; gap: 20px; padding: 20px; }
nav { flex: 0 0 180px; } nav a { display: block; padding: 8px 10px; color: #1b1f24; text-decoration: none; border-radius: 6px; }
nav a.current { background: #d6efe5; font-weight: 600; }
main { flex: 1; min-width: 0; } h1 { font-size: 22px; margin: 0 0 12px; }
iframe { width: 100%%; height: 640px; border: 1px solid #cdd5dc; border-radius: 8px; background: #fff; }
@media (max-width: 640px) { .layout { display: block; padding: 10px; } nav { display: none; } }
</style></head><body>
<header>Acme Cloud</header>
<div class="layout"><nav><a href="#">Profile</a><a href="#">Team</a><a href="#">Billing</a><a class="current" href="#">Webhooks</a></nav>
<main><h1>Settings · Webhooks</h1>
<iframe id="herald" src="%s" title="Webhooks"></iframe>
</main></div></body></html>`, html.EscapeString(link.URL))
}

// TestEmbeddedPortalInBrowser is the provider's side of the portal: a page on another
// site embeds it through a link minted a moment before, in headless Chromium with
// third-party cookies blocked, so the session works only because its cookie is
// partitioned. Inside the frame the customer creates an endpoint and sees its ping,
// sends a test, rotates the secret, retries a failed delivery; following the link a
// second time shows the expired page. A read-only link's session is shown no button
// that changes anything.
func TestEmbeddedPortalInBrowser(t *testing.T) {
	if os.Getenv("HERALD_TEST_CHROMIUM") == "" {
		t.Skip("set HERALD_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run the portal's browser tests")
	}
	// The provider is at http://127.0.0.1:P, Herald at http://localhost:Q: two sites,
	// both secure contexts to Chromium, so Secure cookies work without TLS.
	pr := &provider{}
	pr.Server = httptest.NewServer(http.HandlerFunc(pr.settingsPage))
	t.Cleanup(pr.Close)
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h", "--portal-frame-ancestors", pr.URL)
	heraldURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	pr.herald = heraldURL
	rc := newReceiver(t)

	var team struct {
		ID string `json:"id"`
	}
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/tenants", testAdminKey, map[string]any{"name": "Globex Ops",
		"branding": map[string]string{"name": "Acme Cloud", "color": "#0a7a55"}}, &team); code != http.StatusCreated {
		t.Fatalf("create the tenant: %d", code)
	}
	pr.team = team.ID

	top := newBrowser(t, pr.URL, chromedp.Flag("test-third-party-cookie-phaseout", true))
	top.do("open the provider's settings page", chromedp.Navigate(pr.URL+"/settings"), chromedp.WaitVisible(chromedp.CSS("iframe#herald")))
	frame := top.frame(heraldURL)
	frame.do("wait for the embedded dashboard", chromedp.WaitVisible(chromedp.CSS(".tiles")))
	if who := frame.who(); !strings.Contains(who, "Globex Ops") || !strings.Contains(who, "Back to Acme Cloud") {
		t.Fatalf("the embedded portal's header shows %q, want the tenant and the way back to Acme Cloud", who)
	}

	// Create an endpoint and see its ping.
	frame.do("open the webhooks", chromedp.Click(chromedp.CSS(`nav a[href="/webhooks"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/webhooks/new"]`)))
	frame.do("open the new endpoint form", chromedp.Click(chromedp.CSS(`a[href="/webhooks/new"]`)), chromedp.WaitVisible(chromedp.CSS("#name")))
	frame.do("fill in the new webhook",
		chromedp.SendKeys(chromedp.CSS("#name"), "Globex alerts"),
		chromedp.SendKeys(chromedp.CSS("#url"), rc.URL+"/hook"),
		chromedp.Click(chromedp.CSS("form.form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	secret := frame.text()
	if !strings.Contains(secret, "whsec_") {
		t.Fatalf("the created page shows no secret:\n%s", secret)
	}
	frame.do("go to the webhook", chromedp.Click(chromedp.CSS(`a.button[href^="/webhooks/wh_"]`)), chromedp.WaitVisible(chromedp.CSS("#send-test")))
	hookURL, err := chromedp.Run(frame.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	hookPath := strings.TrimPrefix(hookURL, heraldURL)
	rc.waitFor(t, 1, 10*time.Second)
	frame.openUntil(hookPath, "1 in all")

	// Send a test event.
	frame.do("send a test", chromedp.Click(chromedp.CSS("#send-test")), chromedp.WaitVisible(chromedp.CSS("#test-result .result")))
	if page := frame.text(); !strings.Contains(page, "Test ping delivered") {
		t.Fatalf("the test result is not shown:\n%s", page)
	}
	rc.waitFor(t, 2, 10*time.Second)
	// The list at desktop width, the webhook's page (the widest) at phone width; each
	// must fit the phone's width inside the frame.
	frame.openUntil("/webhooks", "100%")
	embeddedScreenshot(t, top, frame, desktopFrame, "portal-embedded-desktop.png")
	embeddedScreenshot(t, top, frame, phoneFrame, "")
	frame.open(hookPath)
	embeddedScreenshot(t, top, frame, phoneFrame, "portal-embedded-phone.png")

	// Rotate the secret.
	frame.do("rotate the secret", chromedp.Click(chromedp.CSS("#rotate")), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	if rotated := frame.text(); !strings.Contains(rotated, "Secret rotated") || !strings.Contains(rotated, "whsec_") || rotated == secret {
		t.Fatalf("after rotating the frame shows:\n%s", rotated)
	}

	// Retry a failed delivery.
	rc.setStatus(http.StatusInternalServerError)
	var published struct {
		ID string `json:"id"`
	}
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/events", testAdminKey, map[string]any{"type": "cost.anomaly",
		"tenant_id": team.ID, "data": costAnomalySample(t, srv.URL)}, &published); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	rc.waitFor(t, 3, 10*time.Second)
	frame.openUntil("/deliveries/"+onlyDeliveryID(t, srv.URL, published.ID), "HTTP 500")
	rc.setStatus(http.StatusOK)
	frame.do("retry", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#attempt-2")))
	if page := frame.text(); !strings.Contains(page, "Attempt 2 succeeded: HTTP 200") {
		t.Fatalf("after the retry the frame shows:\n%s", page)
	}
	rc.waitFor(t, 4, 5*time.Second)

	// Follow the link a second time: the frame shows the expired page and the way back.
	pr.mu.Lock()
	first := pr.links[0]
	pr.mu.Unlock()
	if _, err := chromedp.Run(top.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById("herald").src = %q`, first))); err != nil {
		t.Fatalf("point the frame at the first link again: %v", err)
	}
	frame.do("wait for the expired page", chromedp.WaitVisible(chromedp.CSS("#return")))
	if page := frame.text(); !strings.Contains(page, "This link has been used or has expired; open Webhooks again from Acme Cloud") {
		t.Fatalf("the link followed twice shows:\n%s", page)
	}
	back, err := chromedp.Run(frame.ctx, chromedp.Evaluate[string](`document.getElementById("return").href`))
	if err != nil || back != pr.URL+"/settings" {
		t.Errorf("the expired page links back to %q (%v), want %s/settings", back, err, pr.URL)
	}

	// A read-only link: the same pages, with no button that changes anything.
	var readOnly struct {
		URL string `json:"url"`
	}
	if code := api(t, heraldURL, http.MethodPost, "/api/v1/tenants/"+team.ID+"/portal-links", testAdminKey,
		map[string]any{"read_only": true, "return_url": pr.URL + "/settings"}, &readOnly); code != http.StatusCreated {
		t.Fatalf("mint a read-only link: %d", code)
	}
	if _, err := chromedp.Run(top.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById("herald").src = %q`, readOnly.URL))); err != nil {
		t.Fatalf("point the frame at a read-only link: %v", err)
	}
	frame.do("wait for the read-only dashboard", chromedp.WaitVisible(chromedp.CSS(".read-only-note")))
	frame.open(hookPath)
	shown, err := chromedp.Run(frame.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main button, main a.button, main a[href$='/edit'], main a[href$='/delete']")]
		.filter(e => e.checkVisibility()).map(e => e.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range shown {
		switch label {
		case "Filter", "Clear", "Search", "Apply", "Copy":
		default:
			t.Errorf("a read-only session is shown %q", label)
		}
	}
	if !strings.Contains(frame.text(), "Globex alerts") {
		t.Errorf("the read-only session does not see the webhook:\n%s", frame.text())
	}

	// The session ends (the tenant's key is rotated): the frame shows the page a used
	// link shows, with the way back, not a sign-in form asking for a key.
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/tenants/"+team.ID+"/rotate-key", testAdminKey, map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("rotate the tenant's key: %d", code)
	}
	frame.open("/webhooks")
	if page := frame.text(); !strings.Contains(page, "This link has been used or has expired; open Webhooks again from Acme Cloud") ||
		!strings.Contains(page, "Your session from that link has ended") {
		t.Fatalf("the frame after its session ended shows:\n%s", page)
	}
	back, err = chromedp.Run(frame.ctx, chromedp.Evaluate[string](`document.getElementById("return").href`))
	if err != nil || back != pr.URL+"/settings" {
		t.Errorf("the ended session's page links back to %q (%v), want %s/settings", back, err, pr.URL)
	}

	if os.Getenv("HERALD_TEST_UPDATE_DOCS") != "" {
		for _, size := range []string{"desktop", "phone"} {
			data, err := os.ReadFile(filepath.Join(top.artifacts, "portal-embedded-"+size+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "portal-embedded-"+size+".png"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("screenshots in %s", top.artifacts)
}

// frame attaches to the cross-site iframe showing a page of base: Chromium runs it in a
// process of its own, a target beside the page's.
func (b *browserSession) frame(base string) *browserSession {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		infos, err := chromedp.Targets(b.ctx)
		if err != nil {
			b.t.Fatalf("list the browser's targets: %v", err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, base+"/") {
				ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(info.TargetID))
				b.t.Cleanup(cancel)
				// The first Run attaches to the frame and its context owns the
				// attachment for good: it must not carry a timeout.
				if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
					b.t.Fatalf("attach to the frame: %v", err)
				}
				return &browserSession{t: b.t, ctx: ctx, base: base, artifacts: b.artifacts, statuses: map[string]int64{}}
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no iframe of %s among the browser's targets: %+v", base, infos)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// frameSize is a size of the browser window the embedding page is shown at.
type frameSize struct {
	label         string
	width, height int64
}

var (
	desktopFrame = frameSize{"desktop", 1280, 760}
	phoneFrame   = frameSize{"phone", 390, 800}
)

// embeddedScreenshot resizes the provider's page to size and, with file not "", saves
// it with the portal in its frame as file in the artifacts. At phone width it fails
// the test when the page in the frame is wider than the frame. After the resize it
// waits until the frame has laid itself out at the new width and painted, since the
// frame's process catches up with the page's on its own time.
func embeddedScreenshot(t *testing.T, top, frame *browserSession, size frameSize, file string) {
	t.Helper()
	const painted = `new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))`
	top.do("resize for "+size.label, chromedp.EmulateViewport(size.width, size.height))
	defer top.do("restore the desktop size", chromedp.EmulateViewport(1280, 800))
	ctx, cancel := context.WithTimeout(frame.ctx, 15*time.Second)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`window.innerWidth < %d && document.readyState === "complete"`, size.width)))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](painted, chromedp.EvalAwaitPromise))
	}
	if err == nil && size == phoneFrame {
		frame.fitsWidth(ctx, "the embedded "+strings.TrimPrefix(mustLocation(t, frame), frame.base))
	}
	cancel()
	if err != nil {
		t.Fatalf("the frame never laid itself out at %s width: %v", size.label, err)
	}
	if file == "" {
		return
	}
	ctx, cancel = context.WithTimeout(top.ctx, 15*time.Second)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](painted, chromedp.EvalAwaitPromise))
	var shot []byte
	if err == nil {
		// The viewport is as tall as the page, so the capture needs no resize,
		// which the frame's process would paint late.
		shot, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
	}
	cancel()
	if err != nil {
		t.Fatalf("screenshot at %s width: %v", size.label, err)
	}
	if err := os.WriteFile(filepath.Join(top.artifacts, file), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustLocation is the URL of the page b shows.
func mustLocation(t *testing.T, b *browserSession) string {
	t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("read the frame's location: %v", err)
	}
	return loc
}

// costAnomalySample is the catalog's sample payload of cost.anomaly.
func costAnomalySample(t *testing.T, base string) json.RawMessage {
	t.Helper()
	var types []struct {
		Type   string          `json:"type"`
		Sample json.RawMessage `json:"sample"`
	}
	api(t, base, http.MethodGet, "/api/v1/event-types", testAdminKey, nil, &types)
	for _, et := range types {
		if et.Type == "cost.anomaly" {
			return et.Sample
		}
	}
	t.Fatal("the catalog has no cost.anomaly")
	return nil
}
