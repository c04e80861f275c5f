package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserSession is one headless Chromium tab on a running Herald, recording every
// request the pages make and every console message about the Content-Security-Policy.
type browserSession struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string

	mu         sync.Mutex
	requests   []string
	violations []string
	statuses   map[string]int64 // the HTTP status of each page (document) loaded, by URL
}

// newBrowser starts a headless Chromium from HERALD_TEST_CHROMIUM, with a fresh
// profile and nothing that talks to Google, and extra options, on server base. The test
// is skipped when the variable is unset.
func newBrowser(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browserSession {
	t.Helper()
	path := os.Getenv("HERALD_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set HERALD_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run the portal's browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	b := &browserSession{t: t, ctx: ctx, base: base, artifacts: os.Getenv("HERALD_TEST_ARTIFACTS"), statuses: map[string]int64{}}
	if b.artifacts == "" {
		b.artifacts = t.TempDir()
	} else if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first Run starts the browser; it must not carry a timeout (it would stop it).
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("listen to the browser: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	// Scroll bars overlay the page, as on a phone: a full-page screenshot is then as
	// wide as the page is laid out, not cut by a scroll bar's width.
	if _, err := chromedp.Call(ctx, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true}); err != nil {
		t.Fatalf("hide the scroll bars: %v", err)
	}
	return b
}

func (b *browserSession) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
	case *network.EventResponseReceived:
		if e.Type == network.ResourceTypeDocument {
			b.statuses[e.Response.URL] = e.Response.Status
		}
	case *log.EventEntryAdded:
		if strings.Contains(e.Entry.Text, "Content Security Policy") || strings.Contains(e.Entry.Text, "Content-Security-Policy") {
			b.violations = append(b.violations, e.Entry.Text)
		}
	}
}

// do runs actions with a time limit, failing the test with what was being done.
func (b *browserSession) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the text of the page's main element.
func (b *browserSession) text() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		b.t.Fatalf("read the page: %v", err)
	}
	return s
}

// status is the HTTP status the browser got for the page at path, last time it loaded.
func (b *browserSession) status(path string) int64 {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	code, ok := b.statuses[b.base+path]
	if !ok {
		b.t.Fatalf("no response recorded for %s", path)
	}
	return code
}

// who returns the text of the page header's signed-in name.
func (b *browserSession) who() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("header .who")))
	if err != nil {
		b.t.Fatalf("read the page header: %v", err)
	}
	return strings.TrimSpace(s)
}

// open navigates to path and returns the text of its main element.
func (b *browserSession) open(path string) string {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
	return b.text()
}

// openUntil opens path again until its text contains want, failing after 10 s.
func (b *browserSession) openUntil(path, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := b.open(path)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q; it shows:\n%s", path, want, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// screenshot saves the page as name-desktop.png and name-phone.png, whole pages, and
// returns the desktop file's path.
func (b *browserSession) screenshot(name string) string {
	b.t.Helper()
	var desktop string
	for _, size := range []struct {
		label         string
		width, height int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size.width, size.height)); err != nil {
			cancel()
			b.t.Fatalf("resize for %s: %v", name, err)
		}
		if size.label == "phone" {
			b.fitsWidth(ctx, name)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(b.artifacts, fmt.Sprintf("portal-%s-%s.png", name, size.label))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		if size.label == "desktop" {
			desktop = file
		}
	}
	b.do("restore the desktop size", chromedp.EmulateViewport(1280, 800))
	return desktop
}

// overflowing lists, for a page wider than its viewport, the innermost elements that
// reach past its right edge, leaving out those inside a box that scrolls or clips them
// (a code block, a wide table's wrapper); it answers [] when the page fits.
const overflowing = `(() => {
	// The viewport less any scroll bar: what is past it is cut off.
	const width = document.documentElement.clientWidth;
	if (document.documentElement.scrollWidth <= width) return [];
	const clipped = e => {
		for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
			if (getComputedStyle(a).overflowX !== "visible") return true;
		}
		return false;
	};
	return [...document.querySelectorAll("body *")]
		.filter(e => e.getBoundingClientRect().right > width + 0.5 && e.checkVisibility() && !clipped(e))
		.filter((e, _, all) => !all.some(o => o !== e && e.contains(o)))
		.slice(0, 8)
		.map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "") +
			" right=" + Math.round(e.getBoundingClientRect().right) + " of " + width);
})()`

// fitsWidth fails the test when the page in ctx is wider than its viewport: on a phone
// that is a page that scrolls sideways, and whatever sticks out is cut off.
func (b *browserSession) fitsWidth(ctx context.Context, name string) {
	b.t.Helper()
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowing))
	if err != nil {
		b.t.Fatalf("measure %s at phone width: %v", name, err)
	}
	if len(wide) > 0 {
		b.t.Errorf("%s is wider than its viewport at phone width; sticking out: %s", name, strings.Join(wide, ", "))
	}
}

// checkRequests fails the test if any page asked for anything from a host other than
// Herald's, or the browser reported a Content-Security-Policy violation.
func (b *browserSession) checkRequests() {
	b.t.Helper()
	herald, err := url.Parse(b.base)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		b.t.Fatal("no request recorded: the network listener is not working")
	}
	for _, raw := range b.requests {
		u, err := url.Parse(raw)
		if err != nil {
			b.t.Errorf("unparsable request URL %q", raw)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if u.Host != herald.Host {
			b.t.Errorf("a page requested %s: only Herald (%s) may be asked for anything", raw, herald.Host)
		}
	}
	for _, v := range b.violations {
		b.t.Errorf("Content-Security-Policy violation: %s", v)
	}
	b.t.Logf("%d requests, all to %s", len(b.requests), herald.Host)
}

func TestPortalInBrowser(t *testing.T) {
	if os.Getenv("HERALD_TEST_CHROMIUM") == "" {
		t.Skip("set HERALD_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run the portal's browser tests")
	}
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)
	b := newBrowser(t, srv.URL)

	// Sign in.
	b.do("open the sign-in page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#api_key")))
	b.screenshot("login")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS("#api_key"), testAdminKey),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)), chromedp.WaitVisible(chromedp.CSS(".tiles")))

	// Create a webhook pointing at the receiver: the secret is shown once.
	b.open("/webhooks/new")
	b.screenshot("webhook-new")
	b.do("fill in the new webhook",
		chromedp.SendKeys(chromedp.CSS("#name"), "Ops alerts"),
		chromedp.SendKeys(chromedp.CSS("#url"), rc.URL+"/hook"),
		chromedp.Click(chromedp.CSS("form.form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	secret := b.text()
	if !strings.Contains(secret, "whsec_") {
		t.Fatalf("the created page shows no secret:\n%s", secret)
	}
	b.screenshot("webhook-created")
	b.do("copy the secret", chromedp.Click(chromedp.CSS("button.copy")))
	b.do("go to the webhook", chromedp.Click(chromedp.CSS(`a.button[href^="/webhooks/wh_"]`)), chromedp.WaitVisible(chromedp.CSS("#send-test")))
	hookPath, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	hookPath = strings.TrimPrefix(hookPath, srv.URL)
	hookID := strings.TrimPrefix(hookPath, "/webhooks/")

	// Its ping shows in the log.
	rc.waitFor(t, 1, 10*time.Second)
	b.openUntil(hookPath, "1 in all")
	b.openUntil("/webhooks", "100%")
	b.screenshot("webhooks")

	// An event published through the API shows too.
	var types []struct {
		Type   string          `json:"type"`
		Sample json.RawMessage `json:"sample"`
	}
	api(t, srv.URL, http.MethodGet, "/api/v1/event-types", testAdminKey, nil, &types)
	var sample json.RawMessage
	for _, et := range types {
		if et.Type == "drift.detected" {
			sample = et.Sample
		}
	}
	var published struct {
		ID string `json:"id"`
	}
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/events", testAdminKey,
		map[string]any{"type": "drift.detected", "data": sample}, &published); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	rc.waitFor(t, 2, 10*time.Second)
	b.openUntil("/deliveries?event_type=drift.detected&status=success", "1 in all")
	b.screenshot("deliveries")

	// The receiver fails; a retry from the portal makes a new attempt, shown at once.
	rc.setStatus(http.StatusInternalServerError)
	if code := api(t, srv.URL, http.MethodPost, "/api/v1/events", testAdminKey,
		map[string]any{"type": "drift.detected", "data": sample}, &published); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	rc.waitFor(t, 3, 10*time.Second)
	deliveryPath := "/deliveries/" + onlyDeliveryID(t, srv.URL, published.ID)
	page := b.openUntil(deliveryPath, "HTTP 500")
	if strings.Contains(page, "Attempt 2") {
		t.Fatal("a second attempt before the retry")
	}
	b.screenshot("delivery")

	// While it fails, the webhook says so first thing: in the list, on the dashboard.
	list := b.openUntil("/webhooks", "failing")
	for _, want := range []string{"endpoint answered 500 Internal Server Error", "1 retrying"} {
		if !strings.Contains(list, want) {
			t.Errorf("the webhook list of a failing endpoint lacks %q:\n%s", want, list)
		}
	}
	b.screenshot("webhooks-failing")
	// Filtered to the tenant: the dashboard's numbers for all tenants, shown at sign-in,
	// are still cached.
	page = b.open("/?tenant_id=default")
	if failing, figures := strings.Index(page, "Failing endpoints"), strings.Index(page, "Attempts per minute"); failing < 0 || failing > figures ||
		!strings.Contains(page, "Ops alerts") || !strings.Contains(page, "endpoint answered 500") {
		t.Errorf("the dashboard does not open with the failing endpoint and its error:\n%s", page)
	}
	b.screenshot("dashboard-failing")
	// And on its own page, above everything else.
	if page := b.open(hookPath); !strings.Contains(page, "endpoint answered 500") || !strings.Contains(page, "failed in a row") {
		t.Errorf("the page of a failing webhook does not say it fails and why:\n%s", page)
	}
	b.screenshot("webhook-failing")

	// A retry that fails again says so, in red.
	b.open(deliveryPath)
	b.do("retry, failing", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#attempt-2")))
	if page := b.text(); !strings.Contains(page, "Attempt 2 failed: endpoint answered 500") {
		t.Fatalf("after a failed retry the page shows:\n%s", page)
	}
	banner, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("#retry-result"), "class"))
	if err != nil || banner.Value != "error" {
		t.Errorf("the banner of a failed retry has class %q (%v), want error (red)", banner.Value, err)
	}
	b.screenshot("delivery-retry-failed")
	rc.waitFor(t, 4, 5*time.Second)

	rc.setStatus(http.StatusOK)
	b.do("retry", chromedp.Click(chromedp.CSS("#retry")), chromedp.WaitVisible(chromedp.CSS("#attempt-3")))
	if page := b.text(); !strings.Contains(page, "Attempt 3 succeeded: HTTP 200") {
		t.Fatalf("after the retry the page shows:\n%s", page)
	}
	rc.waitFor(t, 5, 5*time.Second)
	b.screenshot("delivery-retried")

	// A test ping's result appears in place (htmx, under the strict CSP).
	b.open(hookPath)
	b.do("send a test", chromedp.Click(chromedp.CSS("#send-test")), chromedp.WaitVisible(chromedp.CSS("#test-result .result")))
	if page := b.text(); !strings.Contains(page, "Test ping delivered") {
		t.Fatalf("the test result is not shown:\n%s", page)
	}
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); loc != srv.URL+hookPath {
		t.Errorf("the test navigated to %s: htmx did not swap the result in place", loc)
	}
	b.screenshot("webhook")

	// Rotate the secret: a new one, shown once.
	b.do("rotate the secret", chromedp.Click(chromedp.CSS("#rotate")), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	rotated := b.text()
	if !strings.Contains(rotated, "Secret rotated") || !strings.Contains(rotated, "whsec_") || rotated == secret {
		t.Fatalf("after rotating the page shows:\n%s", rotated)
	}

	// The other pages, for the screenshots and the request check.
	for _, p := range []struct{ name, path, want string }{
		{"dashboard", "/", "Failing endpoints"},
		{"webhook-edit", hookPath + "/edit", "Save changes"},
		{"webhook-delete", hookPath + "/delete", "cannot be undone"},
		{"catalog", "/catalog", "budget.exceeded"},
		{"event-type", "/catalog/drift.detected", "JSON Schema"},
		{"not-found", "/webhooks/wh_nothing", "Not found"},
	} {
		if page := b.open(p.path); !strings.Contains(page, p.want) {
			t.Errorf("%s lacks %q:\n%s", p.path, p.want, page)
		}
		b.screenshot(p.name)
	}
	if code := b.status("/webhooks/wh_nothing"); code != http.StatusNotFound {
		t.Errorf("a webhook that does not exist: HTTP %d, want 404", code)
	}

	// A tenant's session sees none of another tenant's webhooks.
	var teamA, teamB struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	api(t, srv.URL, http.MethodPost, "/api/v1/tenants", testAdminKey, map[string]string{"name": "Team A"}, &teamA)
	api(t, srv.URL, http.MethodPost, "/api/v1/tenants", testAdminKey, map[string]string{"name": "Team B"}, &teamB)
	var hookB webhookResource
	api(t, srv.URL, http.MethodPost, "/api/v1/webhooks", testAdminKey,
		map[string]any{"name": "Team B secret hook", "url": rc.URL + "/b", "tenant_id": teamB.ID}, &hookB)
	b.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("#api_key")))
	b.do("sign in as team A", chromedp.SendKeys(chromedp.CSS("#api_key"), teamA.APIKey),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)), chromedp.WaitVisible(chromedp.CSS(".tiles")))
	// The checks below mean something only if this session really is team A's.
	if who := b.who(); !strings.HasPrefix(who, "Team A") {
		t.Fatalf("after signing in as team A the page header shows %q, want Team A", who)
	}
	if page := b.open("/webhooks"); strings.Contains(page, "Team B secret hook") || strings.Contains(page, "Ops alerts") {
		t.Errorf("team A's webhook list shows another tenant's webhook:\n%s", page)
	}
	if b.status("/webhooks") != http.StatusOK {
		t.Errorf("team A's webhook list: HTTP %d, want 200", b.status("/webhooks"))
	}
	for _, path := range []string{"/webhooks/" + hookB.ID, "/webhooks/" + hookID, "/webhooks/" + hookB.ID + "/edit"} {
		if page := b.open(path); !strings.Contains(page, "Not found") {
			t.Errorf("team A opened %s:\n%s", path, page)
		}
		if code := b.status(path); code != http.StatusNotFound {
			t.Errorf("team A opened %s: HTTP %d, want 404", path, code)
		}
	}
	// Tenant keys cannot publish: no sample form for team A.
	if page := b.open("/catalog/drift.detected"); strings.Contains(page, "Send sample") {
		t.Errorf("team A is offered to send a sample:\n%s", page)
	}
	// The sign-in page shows the form, naming the session.
	if page := b.open("/login"); !strings.Contains(page, "Signed in as Team A") {
		t.Errorf("the sign-in page, signed in as team A, shows:\n%s", page)
	}
	if page := b.open("/deliveries"); strings.Contains(page, "del_") || !strings.Contains(page, "No deliveries match") {
		t.Errorf("team A's delivery log shows another tenant's deliveries:\n%s", page)
	}

	b.checkRequests()
	if os.Getenv("HERALD_TEST_UPDATE_DOCS") != "" {
		for shot, doc := range map[string]string{"webhooks-failing": "portal-webhooks.png", "delivery-retry-failed": "portal-delivery.png"} {
			data, err := os.ReadFile(filepath.Join(b.artifacts, "portal-"+shot+"-desktop.png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", doc), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("screenshots in %s", b.artifacts)
}
