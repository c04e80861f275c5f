package portal_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/receivercode"
)

// addTenantWebhook creates a webhook of tenant as the admin with body's fields added to
// a name and the receiver's URL, and returns its id.
func (e *env) addTenantWebhook(tenant string, body map[string]any) string {
	e.t.Helper()
	b := map[string]any{"name": "Hook", "url": e.receiver.URL + "/hook", "tenant_id": tenant}
	for k, v := range body {
		b[k] = v
	}
	var out idOnly
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks", b, &out, http.StatusCreated)
	return out.ID
}

// shown returns the text of the element with id on the page, unescaped; "" if the
// page has none.
func shown(body, id string) string {
	m := regexp.MustCompile(`(?s)id="` + regexp.QuoteMeta(id) + `">(.*?)</code>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func TestRevealSecretAsksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	teamA, keyA := e.addTenant("Team A")
	teamB, _ := e.addTenant("Team B")
	hook := e.addTenantWebhook(teamA, map[string]any{"format": "frugally"})
	hookB := e.addTenantWebhook(teamB, nil)
	var want struct {
		Secret string `json:"secret"`
	}
	e.api(e.adminKey, http.MethodPost, "/api/v1/webhooks/"+hook+"/reveal-secret", nil, &want, http.StatusOK)

	b := e.browser()
	b.signIn(keyA)
	// The webhook's page links to the confirmation; neither shows the secret.
	hookPage := b.get("/webhooks/" + hook)
	wantPage(t, "the webhook", hookPage, http.StatusOK, `href="/webhooks/`+hook+`/reveal-secret"`)
	confirm := b.get("/webhooks/" + hook + "/reveal-secret")
	wantPage(t, "the confirmation", confirm, http.StatusOK, "Show the signing secret?", `method="post" action="/webhooks/`+hook+`/reveal-secret"`)
	for name, p := range map[string]page{"webhook": hookPage, "confirmation": confirm} {
		if strings.Contains(html.UnescapeString(p.body), want.Secret) {
			t.Errorf("the %s page shows the secret before it is asked for", name)
		}
	}

	// A form from another site is refused, and shows nothing.
	p := b.do(http.MethodPost, "/webhooks/"+hook+"/reveal-secret", url.Values{}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
	wantPage(t, "a cross-site reveal", p, http.StatusForbidden, "another site")
	if strings.Contains(html.UnescapeString(p.body), want.Secret) {
		t.Fatal("a cross-site form got the secret")
	}

	// Confirmed: the whole whsec_ string, as the receiver must use it, and never cached.
	p = b.do(http.MethodPost, "/webhooks/"+hook+"/reveal-secret", url.Values{})
	wantPage(t, "revealed", p, http.StatusOK, `data-copy="secret-value"`, "export WEBHOOK_SECRET=")
	if got := shown(p.body, "secret-value"); got != want.Secret || !strings.HasPrefix(got, "whsec_") {
		t.Errorf("revealed %q, want the webhook's secret %q", got, want.Secret)
	}
	if got := shown(p.body, "secret-env"); got != "export WEBHOOK_SECRET='"+want.Secret+"'" {
		t.Errorf("the environment line is %q", got)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the revealed secret's Cache-Control is %q, want no-store", cc)
	}

	// During a rotation's grace the previous secret shows too.
	p = b.do(http.MethodPost, "/webhooks/"+hook+"/rotate-secret", url.Values{"grace_hours": {"24"}})
	rotated := shown(p.body, "secret-value")
	p = b.do(http.MethodPost, "/webhooks/"+hook+"/reveal-secret", url.Values{})
	if got, prev := shown(p.body, "secret-value"), shown(p.body, "previous-secret"); got != rotated || prev != want.Secret {
		t.Errorf("after a rotation: revealed %q and previous %q, want %q and %q", got, prev, rotated, want.Secret)
	}

	// Another tenant's webhook is not found, asked or confirmed.
	wantPage(t, "B's confirmation", b.get("/webhooks/"+hookB+"/reveal-secret"), http.StatusNotFound)
	wantPage(t, "B's secret", b.do(http.MethodPost, "/webhooks/"+hookB+"/reveal-secret", url.Values{}), http.StatusNotFound)

	// An ed25519 webhook shows its public key only.
	ed := e.addTenantWebhook(teamA, map[string]any{"signing": "ed25519"})
	wantPage(t, "ed25519 confirmation", b.get("/webhooks/"+ed+"/reveal-secret"), http.StatusOK, "Show the public key")
	p = b.do(http.MethodPost, "/webhooks/"+ed+"/reveal-secret", url.Values{})
	wantPage(t, "ed25519 revealed", p, http.StatusOK, `id="public-key">whpk_`)
	if strings.Contains(p.body, "whsk_") || strings.Contains(p.body, `id="secret-value"`) {
		t.Error("an ed25519 webhook's page shows a private key")
	}
}

func TestSendTestOfASubscribedType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	teamA, keyA := e.addTenant("Team A")
	hook := e.addTenantWebhook(teamA, map[string]any{"events": []string{"drift.detected", "ping"}})
	sibling := e.addTenantWebhook(teamA, map[string]any{"events": []string{"drift.detected"}})

	b := e.browser()
	b.signIn(keyA)
	// Offered: ping and the subscribed type with a sample, nothing else.
	page := b.get("/webhooks/" + hook)
	wantPage(t, "the webhook", page, http.StatusOK, `<option value="ping">ping</option>`,
		`<option value="drift.detected">drift.detected (the catalog's sample)</option>`)
	if strings.Contains(page.body, "alert.created (the catalog") {
		t.Error("the test offers a type the webhook does not subscribe to")
	}

	frag := b.do(http.MethodPost, "/webhooks/"+hook+"/test", url.Values{"event_type": {"drift.detected"}}, "HX-Request", "true")
	wantPage(t, "the test", frag, http.StatusOK, "Test drift.detected delivered", "HTTP 200")
	m := regexp.MustCompile(`/deliveries/(del_[0-9A-Z]+)`).FindStringSubmatch(frag.body)
	if m == nil {
		t.Fatalf("the test's result links no delivery:\n%s", frag.body)
	}
	ctx := context.Background()
	d, err := e.store.Delivery(ctx, m[1])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.store.Event(ctx, d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if d.WebhookID != hook || ev.Type != "drift.detected" || !strings.Contains(string(ev.Data), "data-lake-bucket") {
		t.Errorf("the test sent %s %s to %s, want drift.detected's sample to %s", ev.Type, ev.Data, d.WebhookID, hook)
	}
	// It went to this endpoint only: not a publish.
	if _, n, err := e.store.Deliveries(ctx, herald.DeliveryFilter{WebhookID: sibling, EventType: "drift.detected"}); err != nil || n != 0 {
		t.Errorf("the sibling webhook got %d drift.detected deliveries (err %v), want 0", n, err)
	}

	// A type it does not subscribe to is refused in place, saying why.
	frag = b.do(http.MethodPost, "/webhooks/"+hook+"/test", url.Values{"event_type": {"alert.created"}}, "HX-Request", "true")
	wantPage(t, "a test of another type", frag, http.StatusOK, "Test not sent", "does not subscribe to alert.created")
	// No type is a ping, as before.
	wantPage(t, "a plain test", b.do(http.MethodPost, "/webhooks/"+hook+"/test", url.Values{}, "HX-Request", "true"),
		http.StatusOK, "Test ping delivered")
}

func TestHowToVerifyShowsTheTestedReceivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)
	for _, c := range []struct {
		body   map[string]any
		key    string
		labels []string
	}{
		{map[string]any{"format": "infraaudit"}, "whole secret string, whsec_ included", []string{"Go", "Python", "Node.js"}},
		{map[string]any{"format": "frugally"}, "whole secret string, whsec_ included", []string{"Go", "Python", "Node.js"}},
		{map[string]any{"format": "standard"}, "base64 after whsec_", []string{"Go", "Python", "Node.js"}},
		{map[string]any{"format": "standard", "signing": "ed25519"}, "public key, whpk_", []string{"Go"}},
	} {
		hook := e.addTenantWebhook(herald.DefaultTenantID, c.body)
		page := b.get("/webhooks/" + hook)
		wantPage(t, "the webhook", page, http.StatusOK, `id="verify"`, "How to verify", c.key)
		format, _ := c.body["format"].(string)
		signing, _ := c.body["signing"].(string)
		g, err := receivercode.Render(receivercode.Webhook{Format: herald.Format(format), Signing: signing})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range g.Headers {
			if !strings.Contains(page.body, "<code>"+h+"</code>") {
				t.Errorf("%v: the guide does not name the header %s", c.body, h)
			}
		}
		if len(g.Receivers) != len(c.labels) {
			t.Fatalf("%v: %d receivers, want %d", c.body, len(g.Receivers), len(c.labels))
		}
		for i, r := range g.Receivers {
			// The code shown is the code examples/ runs, byte for byte.
			if got := shown(page.body, "receiver-"+string(r.Language)); got != r.Code {
				t.Errorf("%v: the %s receiver shown differs from the one rendered (and tested):\n%s", c.body, r.Label, got)
			}
			if !strings.Contains(page.body, "<summary>"+c.labels[i]+" ") {
				t.Errorf("%v: no %s receiver", c.body, c.labels[i])
			}
		}
	}
}

func TestEventTypesChosenWithTheirDescriptionSchemaAndSample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, keyA := e.addTenant("Team A")
	b := e.browser()
	b.signIn(keyA)
	var types []herald.EventType
	e.api(keyA, http.MethodGet, "/api/v1/webhooks/events", nil, &types, http.StatusOK)
	if len(types) == 0 {
		t.Fatal("the catalog is empty")
	}
	for _, path := range []string{"/webhooks/new"} {
		p := b.get(path)
		wantPage(t, path, p, http.StatusOK, "Schema and sample")
		body := html.UnescapeString(p.body)
		for _, et := range types {
			if !strings.Contains(p.body, `value="`+et.Type+`"`) || !strings.Contains(body, et.Description) {
				t.Errorf("%s: %s is not offered with its description %q", path, et.Type, et.Description)
			}
		}
		if !strings.Contains(body, `"resource_name": "data-lake-bucket"`) || !strings.Contains(body, `"$schema"`) {
			t.Errorf("%s: drift.detected's sample or schema is not shown", path)
		}
	}
}

func TestDeliveryLogFindsAnEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hook := e.addWebhook(e.adminKey, "", "Orders")
	var ids []string
	for range 2 {
		var out struct {
			ID string `json:"id"`
		}
		e.api(e.adminKey, http.MethodPost, "/api/v1/events", map[string]any{"type": "ping", "data": map[string]any{"webhook_id": hook, "message": "hello"}}, &out, http.StatusAccepted)
		ids = append(ids, out.ID)
	}
	deliveryOf := func(eventID string) string {
		t.Helper()
		ds, _, err := e.store.Deliveries(context.Background(), herald.DeliveryFilter{EventID: eventID})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries of %s: %d (err %v), want 1", eventID, len(ds), err)
		}
		return ds[0].ID
	}
	found, other := deliveryOf(ids[0]), deliveryOf(ids[1])

	b := e.browser()
	b.signIn(e.adminKey)
	for _, path := range []string{"/webhooks/" + hook, "/deliveries"} {
		p := b.get(path + "?event_id=" + url.QueryEscape(" "+ids[0]+" "))
		wantPage(t, path+" searched", p, http.StatusOK, found, `name="event_id" value="`+ids[0]+`"`)
		if strings.Contains(p.body, other) {
			t.Errorf("%s searched for %s shows the delivery of %s", path, ids[0], ids[1])
		}
		wantPage(t, path+" searched for nothing", b.get(path+"?event_id=evt_none"), http.StatusOK, "No deliveries match.")
	}
}
