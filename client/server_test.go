package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/webhook"
)

const adminKey = "hk_admin_client-package-test-key"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// heraldBinary builds cmd/herald once for the package's tests and examples.
func heraldBinary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-client-test")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/heraldhq/herald/cmd/herald").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build herald: %w: %s", err, out)
		}
	})
	return binary, buildErr
}

// TestMain removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// runHerald runs `herald serve` as its own process on a free loopback port with a fresh
// SQLite data directory, and returns its URL and the function that stops it and removes
// the directory.
func runHerald() (string, func(), error) {
	bin, err := heraldBinary()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "herald-client-data")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--admin-key", adminKey, "--allow-private-networks", "--poll-interval", "50ms", "--log-level", "warn")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		cancel()
		_ = cmd.Wait() // interrupted: its exit status says nothing more
		os.RemoveAll(dir)
	}
	found := make(chan string, 1)
	go func() {
		listening := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained
	}()
	select {
	case u := <-found:
		return u, stop, nil
	case <-time.After(60 * time.Second):
		stop()
		return "", nil, fmt.Errorf("herald serve did not start in 60 s:\n%s", stderr.String())
	}
}

// startHerald is runHerald for a test, stopped at its end.
func startHerald(t *testing.T) string {
	t.Helper()
	u, stop, err := runHerald()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return u
}

// received is one request an endpoint got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// endpoint is a receiver that records every request and answers 204.
type endpoint struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

func newEndpoint(t *testing.T) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("endpoint: %v", err)
		}
		e.mu.Lock()
		e.got = append(e.got, received{r.Header.Clone(), body, time.Now()})
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.Close)
	return e
}

// waitFor waits until the endpoint got n requests.
func (e *endpoint) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.mu.Lock()
		got := append([]received(nil), e.got...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d requests in 60 s, want %d", e.URL, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgainstHeraldServe creates a webhook in each format with the client against a real
// `herald serve`, publishes every seed example, and verifies every request each
// endpoint got with package webhook; then checks that a changed body, a wrong secret and
// (standard, the one format with a signed timestamp) a stale timestamp each fail with
// their own error. The Standard Webhooks and ed25519 test vectors are checked by
// TestSharedVectors, and by package webhook's own tests (TestVerifyStandard,
// TestSignStandardVectors).
func TestAgainstHeraldServe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := client.New(startHerald(t), adminKey)
	if err != nil {
		t.Fatal(err)
	}
	seeds := catalogtest.SeedExamples(t)

	catalog, err := c.EventTypes.List(ctx)
	if err != nil {
		t.Fatalf("EventTypes.List: %v", err)
	}
	for typ := range seeds {
		found := false
		for _, et := range catalog {
			found = found || et.Type == typ
		}
		if !found {
			t.Errorf("seed type %s is not in the server's catalog", typ)
		}
	}

	type subscribed struct {
		format   webhook.Format
		endpoint *endpoint
		hook     *client.Webhook
	}
	var subs []subscribed
	for _, f := range []webhook.Format{webhook.FormatStandard, webhook.FormatInfraAudit, webhook.FormatFrugally} {
		e := newEndpoint(t)
		wh, err := c.Webhooks.Create(ctx, client.WebhookCreate{Name: string(f) + " receiver", URL: e.URL, Format: herald.Format(f)})
		if err != nil {
			t.Fatalf("create a %s webhook: %v", f, err)
		}
		if wh.Secret == "" || wh.Format != herald.Format(f) || !wh.Enabled {
			t.Fatalf("created %s webhook: %+v, want it enabled, in its format, with its secret", f, wh)
		}
		subs = append(subs, subscribed{f, e, wh})
	}

	ids := map[string]string{} // event id → type
	for typ, data := range seeds {
		res, err := c.Events.Publish(ctx, client.Event{Type: typ, Data: data})
		if err != nil {
			t.Fatalf("publish the %s seed: %v", typ, err)
		}
		if res.Deliveries != len(subs) || res.Duplicate {
			t.Errorf("publish %s: %+v, want %d deliveries, not a duplicate", typ, res, len(subs))
		}
		ids[res.ID] = typ
	}

	for _, s := range subs {
		got := s.endpoint.waitFor(t, len(seeds)+1) // the creation ping, then every seed
		v, err := webhook.NewVerifier(s.format, s.hook.Secret)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range got {
			v.Now = func() time.Time { return r.at }
			if err := v.Verify(r.header, r.body); err != nil {
				t.Errorf("%s: a delivery does not verify: %v\n%s", s.format, err, r.body)
				continue
			}
			ev, err := webhook.Parse(s.format, r.header, r.body)
			if err != nil {
				t.Errorf("%s: parse a verified delivery: %v", s.format, err)
				continue
			}
			seen[ev.Type] = true
		}
		for typ := range seeds {
			if !seen[typ] {
				t.Errorf("%s: no verified delivery of %s", s.format, typ)
			}
		}

		r := got[len(got)-1]
		v.Now = func() time.Time { return r.at }
		changed := append([]byte(nil), r.body...)
		changed[len(changed)-2] ^= 1 // inside the JSON, before its closing brace
		if err := v.Verify(r.header, changed); !errors.Is(err, webhook.ErrBodyChanged) {
			t.Errorf("%s: changed body: %v, want ErrBodyChanged", s.format, err)
		}
		wrong, err := webhook.NewVerifier(s.format, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
		if err != nil {
			t.Fatal(err)
		}
		wrong.Now = v.Now
		if err := wrong.Verify(r.header, r.body); !errors.Is(err, webhook.ErrWrongSecret) {
			t.Errorf("%s: wrong secret: %v, want ErrWrongSecret", s.format, err)
		}
		if s.format == webhook.FormatStandard {
			v.Now = func() time.Time { return r.at.Add(10 * time.Minute) }
			if err := v.Verify(r.header, r.body); !errors.Is(err, webhook.ErrTimestampOutOfTolerance) {
				t.Errorf("standard: verified 10 min late: %v, want ErrTimestampOutOfTolerance", err)
			}
		}
	}

	// Iterating goes through every page: deliveries follow the server's next links,
	// webhooks count pages.
	deliveries := map[string]bool{}
	for d, err := range c.Deliveries.All(ctx, client.DeliveryListOptions{ListOptions: client.ListOptions{PerPage: 10}}) {
		if err != nil {
			t.Fatalf("Deliveries.All: %v", err)
		}
		deliveries[d.ID] = true
	}
	if want := len(subs) * (len(seeds) + 1); len(deliveries) != want {
		t.Errorf("Deliveries.All, 10 a page: %d distinct deliveries, want %d", len(deliveries), want)
	}
	var hooks []string
	for wh, err := range c.Webhooks.All(ctx, client.WebhookListOptions{ListOptions: client.ListOptions{PerPage: 2}}) {
		if err != nil {
			t.Fatalf("Webhooks.All: %v", err)
		}
		hooks = append(hooks, wh.ID)
	}
	if len(hooks) != len(subs) {
		t.Errorf("Webhooks.All, 2 a page: %v, want the %d webhooks", hooks, len(subs))
	}

	// What the server recorded agrees with what arrived.
	for id, typ := range ids {
		ev, err := c.Events.Get(ctx, id)
		if err != nil {
			t.Fatalf("Events.Get %s: %v", id, err)
		}
		if ev.Type != typ || len(ev.Deliveries) != len(subs) {
			t.Errorf("event %s: type %s with %d deliveries, want %s with %d", id, ev.Type, len(ev.Deliveries), typ, len(subs))
		}
	}
}

// TestEveryCallAgainstHeraldServe makes each call the seed test does not, against a real
// `herald serve`, and checks that the typed answers hold what the server did.
func TestEveryCallAgainstHeraldServe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := startHerald(t)
	admin, err := client.New(base, adminKey)
	if err != nil {
		t.Fatal(err)
	}

	// The catalog grows a type, once.
	schema := json.RawMessage(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer"}}}`)
	et, err := admin.EventTypes.Create(ctx, herald.EventType{Type: "invoice.paid", Description: "An invoice was paid", Schema: schema, Sample: json.RawMessage(`{"amount":100}`)})
	if err != nil || et.Type != "invoice.paid" {
		t.Fatalf("EventTypes.Create: %v, %+v", err, et)
	}
	if _, err := admin.EventTypes.Create(ctx, *et); herald.ErrorCode(err) != herald.ECONFLICT {
		t.Errorf("creating invoice.paid again: %v, want CONFLICT", err)
	}

	// A tenant with its own key, which sees only its own.
	tn, err := admin.Tenants.Create(ctx, client.TenantCreate{ID: "team_1", Name: "Team one", Branding: &herald.Branding{Name: "Acme"}})
	if err != nil || tn.ID != "team_1" || tn.APIKey == "" || tn.Branding.Name != "Acme" {
		t.Fatalf("Tenants.Create: %v, %+v", err, tn)
	}
	if _, err := admin.Tenants.Create(ctx, client.TenantCreate{ID: "team_2", Name: "Team two"}); err != nil {
		t.Fatal(err)
	}
	var tenants []string
	for tt, err := range admin.Tenants.All(ctx, client.ListOptions{PerPage: 1}) {
		if err != nil {
			t.Fatalf("Tenants.All: %v", err)
		}
		tenants = append(tenants, tt.ID)
	}
	if !slicesHave(tenants, "team_1", "team_2") {
		t.Errorf("Tenants.All, 1 a page: %v, want team_1 and team_2 among them", tenants)
	}
	renamed, err := admin.Tenants.Update(ctx, "team_1", client.TenantUpdate{Name: client.Ptr("Team 1")})
	if err != nil || renamed.Name != "Team 1" || renamed.Branding.Name != "Acme" {
		t.Errorf("Tenants.Update of the name: %v, %+v; want the name changed and the branding kept", err, renamed)
	}
	tenant, err := client.New(base, tn.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := admin.Tenants.Get(ctx, "team_1"); err != nil || got.Name != "Team 1" {
		t.Errorf("Tenants.Get: %v, %+v", err, got)
	}
	if _, err := tenant.Tenants.Get(ctx, "team_2"); herald.ErrorCode(err) != herald.EFORBIDDEN {
		t.Errorf("a tenant's key reading tenants: %v, want FORBIDDEN", err)
	}

	// A webhook of the tenant, updated, tested, its secret rotated and read again.
	e := newEndpoint(t)
	wh, err := tenant.Webhooks.Create(ctx, client.WebhookCreate{Name: "billing", URL: e.URL, Events: []string{"invoice.paid"}, Format: herald.FormatStandard})
	if err != nil || wh.TenantID != "team_1" || wh.Signing != "hmac-sha256" {
		t.Fatalf("the tenant creates a webhook: %v, %+v", err, wh)
	}
	up, err := tenant.Webhooks.Update(ctx, wh.ID, client.WebhookUpdate{Description: client.Ptr("payments"), RateLimit: client.Ptr(5),
		Headers: &map[string]string{"X-Env": "test"}, Auth: client.BearerAuth("tok_for_the_endpoint")})
	if err != nil || up.Description != "payments" || up.RateLimit != 5 || up.Headers["X-Env"] != "test" || up.Name != "billing" {
		t.Errorf("Webhooks.Update: %v, %+v; want the fields given changed, the others kept", err, up)
	}
	if up != nil && (up.Auth == nil || up.Auth.Type != "bearer" || up.Auth.Token != "") {
		t.Errorf("Webhooks.Update with a bearer auth: auth read back %+v, want bearer without its token", up.Auth)
	}
	test, err := tenant.Webhooks.Test(ctx, wh.ID, "invoice.paid")
	if err != nil || !test.Success || test.StatusCode != http.StatusNoContent || test.DeliveryID == "" {
		t.Errorf("Webhooks.Test with invoice.paid: %v, %+v", err, test)
	}
	tested := false
	for _, r := range e.waitFor(t, 2) { // the ping and the test, in either order
		if strings.Contains(string(r.body), `"invoice.paid"`) {
			tested = true
			if r.header.Get("Authorization") != "Bearer tok_for_the_endpoint" {
				t.Errorf("the test request's Authorization %q, want the bearer auth given", r.header.Get("Authorization"))
			}
		}
	}
	if !tested {
		t.Error("the endpoint got no invoice.paid test request")
	}
	if _, err := tenant.Webhooks.Test(ctx, wh.ID, "drift.detected"); herald.ErrorCode(err) != herald.EINVALID {
		t.Errorf("Webhooks.Test with a type it does not subscribe to: %v, want VALIDATION_FAILED", err)
	}
	rotated, err := tenant.Webhooks.RotateSecret(ctx, wh.ID, client.RotateSecret{Grace: client.Ptr(time.Hour)})
	if err != nil || rotated.Secret == "" || rotated.Secret == wh.Secret {
		t.Fatalf("Webhooks.RotateSecret: %v, %+v", err, rotated)
	}
	secrets, err := tenant.Webhooks.RevealSecret(ctx, wh.ID)
	if err != nil || secrets.Secret != rotated.Secret || secrets.PreviousSecret != wh.Secret || secrets.PreviousSecretExpiresAt == nil {
		t.Errorf("Webhooks.RevealSecret during the grace: %v, %+v; want the new secret and the old one", err, secrets)
	}

	// A batch: one accepted, one refused by the schema, one repeating the first's id.
	results, err := admin.Events.PublishBatch(ctx, []client.Event{
		{ID: "inv_1", Type: "invoice.paid", TenantID: "team_1", Data: map[string]int{"amount": 5}},
		{ID: "inv_2", Type: "invoice.paid", TenantID: "team_1", Data: map[string]string{"amount": "five"}},
		{ID: "inv_1", Type: "invoice.paid", TenantID: "team_1", Data: map[string]int{"amount": 5}},
	})
	if err != nil || len(results) != 3 {
		t.Fatalf("PublishBatch: %v, %+v", err, results)
	}
	if r := results[0]; r.Published == nil || r.Published.ID != "inv_1" || r.Published.Deliveries != 1 || r.Published.Duplicate {
		t.Errorf("batch item 1: %+v %+v, want inv_1 published to 1 webhook", r, r.Published)
	}
	if r := results[1]; r.Err == nil || r.Err.Code != herald.EINVALID || r.Published != nil {
		t.Errorf("batch item 2: %+v, want VALIDATION_FAILED", r)
	}
	if r := results[2]; r.Published == nil || !r.Published.Duplicate {
		t.Errorf("batch item 3: %+v, want a duplicate of inv_1", r)
	}

	// Its delivery, its attempts, a retry.
	page, err := tenant.Webhooks.Deliveries(ctx, wh.ID, client.DeliveryListOptions{EventType: "invoice.paid"})
	if err != nil || len(page.Items) != 2 || page.Total != 2 {
		t.Fatalf("Webhooks.Deliveries of invoice.paid: %v, %+v; want the test's and inv_1's", err, page)
	}
	var dlv string
	for _, d := range page.Items {
		if d.EventID == "inv_1" {
			dlv = d.ID
		}
	}
	e.waitFor(t, 3) // the ping, the test's request and inv_1's
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := tenant.Deliveries.Get(ctx, dlv)
		if err != nil {
			t.Fatalf("Deliveries.Get: %v", err)
		}
		if d.Status == herald.StatusSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s still %s after 30 s", dlv, d.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	again, err := tenant.Deliveries.Retry(ctx, dlv)
	if err != nil || again.AttemptCount != 2 || len(again.Attempts) != 2 || !again.Attempts[1].Success {
		t.Errorf("Deliveries.Retry: %v, %+v; want a second, successful attempt", err, again)
	}
	attempts, err := tenant.Deliveries.Attempts(ctx, dlv, client.ListOptions{})
	if err != nil || len(attempts.Items) != 2 || attempts.Total != 2 {
		t.Errorf("Deliveries.Attempts: %v, %+v; want both", err, attempts)
	}
	listed, err := admin.Deliveries.List(ctx, client.DeliveryListOptions{EventID: "inv_1"})
	if err != nil || len(listed.Items) != 1 || listed.Items[0].ID != dlv {
		t.Errorf("Deliveries.List of inv_1: %v, %+v", err, listed)
	}
	if keys, err := tenant.Webhooks.BlockedKeys(ctx, wh.ID); err != nil || len(keys) != 0 {
		t.Errorf("Webhooks.BlockedKeys of a webhook that does not order: %v, %+v; want none", err, keys)
	}
	if n, err := tenant.Webhooks.Recover(ctx, wh.ID, nil, nil); err != nil || n != 0 {
		t.Errorf("Webhooks.Recover with nothing failed: %d, %v; want 0", n, err)
	}

	// A portal link, a key rotation, and the end of it all.
	link, err := tenant.Tenants.PortalLink(ctx, "team_1", client.PortalLinkOptions{TTL: 5 * time.Minute, ReadOnly: true})
	if err != nil || !strings.HasPrefix(link.URL, base+"/") || time.Until(link.ExpiresAt) > 5*time.Minute+time.Second {
		t.Errorf("Tenants.PortalLink: %v, %+v", err, link)
	}
	key, err := admin.Tenants.RotateKey(ctx, "team_1", 0)
	if err != nil || key.APIKey == "" || key.PreviousKeyExpiresAt != nil {
		t.Fatalf("Tenants.RotateKey with no grace: %v, %+v", err, key)
	}
	if _, err := tenant.Webhooks.Get(ctx, wh.ID); herald.ErrorCode(err) != herald.EUNAUTHORIZED {
		t.Errorf("the replaced key: %v, want UNAUTHORIZED", err)
	}
	if err := admin.Webhooks.Delete(ctx, wh.ID); err != nil {
		t.Errorf("Webhooks.Delete: %v", err)
	}
	if _, err := admin.Webhooks.Get(ctx, wh.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("a deleted webhook: %v, want NOT_FOUND", err)
	}
	if err := admin.Tenants.Delete(ctx, "team_2"); err != nil {
		t.Errorf("Tenants.Delete: %v", err)
	}
}

// slicesHave reports whether all of want are in got.
func slicesHave(got []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
