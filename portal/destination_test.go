package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBrokerWebhookForms creates and edits a webhook whose URL names a Redis stream with
// a password: the list, the page and the form show the destination kind and *** for the
// password, never the password itself, and saving the form with *** keeps it.
func TestBrokerWebhookForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)
	const secretURL = "redis://:hunter2@127.0.0.1:6379/0?stream=orders"
	p := b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Bus"}, "url": {secretURL}, "scope": {"all"}})
	wantPage(t, "created", p, http.StatusCreated, "whsec_")
	if strings.Contains(p.body, "hunter2") {
		t.Fatal("the created page shows the URL's password")
	}
	var hooks []struct {
		ID          string `json:"id"`
		URL         string `json:"url"`
		Destination string `json:"destination"`
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks", nil, &hooks, http.StatusOK)
	if len(hooks) != 1 || hooks[0].URL != "redis://:***@127.0.0.1:6379/0?stream=orders" || hooks[0].Destination != "redis" {
		t.Fatalf("API shows %+v, want the URL with *** and destination redis", hooks)
	}
	id := hooks[0].ID
	redacted := "redis://:***@127.0.0.1:6379/0?stream=orders"
	for path, what := range map[string]string{"/webhooks": "list", "/webhooks/" + id: "page", "/webhooks/" + id + "/edit": "form"} {
		page := b.get(path)
		if what != "form" {
			wantPage(t, what, page, http.StatusOK, `class="destination">Redis stream<`)
		}
		if strings.Contains(page.body, "hunter2") || !strings.Contains(page.body, redacted) {
			t.Errorf("%s: want the URL with *** and never the password", what)
		}
	}
	// The form sent back as shown keeps the password.
	p = b.do(http.MethodPost, "/webhooks/"+id, url.Values{"name": {"Bus v2"}, "url": {redacted}, "scope": {"all"}, "format": {"standard"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.status, p.body)
	}
	w, err := e.store.Webhook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if w.URL != secretURL || w.Name != "Bus v2" {
		t.Errorf("after saving the form: URL %q name %q, want %q kept and the new name", w.URL, w.Name, secretURL)
	}
}
