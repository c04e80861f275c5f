package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/authtest"
)

// TestWebhookFormAuth: the form sets, keeps, replaces and removes a webhook's auth; the
// detail page shows the method and never a secret; a refusal is shown on the form
// without echoing what was typed into a secret field.
func TestWebhookFormAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)

	wantPage(t, "the new form", b.get("/webhooks/new"), 200, `name="auth_type"`, "OAuth2 client credentials", "Mutual TLS")
	p := b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Authed"}, "url": {e.receiver.URL}, "scope": {"all"},
		"tenant_id": {"default"}, "auth_type": {"basic"}, "auth_username": {"herald"}, "auth_password": {"pw-s3cret"}})
	wantPage(t, "created with basic auth", p, http.StatusCreated)
	var hooks []struct {
		ID   string `json:"id"`
		Auth *struct {
			Type     string `json:"type"`
			Username string `json:"username"`
		} `json:"auth"`
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks", nil, &hooks, http.StatusOK)
	if len(hooks) != 1 || hooks[0].Auth == nil || hooks[0].Auth.Type != "basic" || hooks[0].Auth.Username != "herald" {
		t.Fatalf("created webhook %+v, want basic auth for herald", hooks)
	}
	id := hooks[0].ID
	page := b.get("/webhooks/" + id)
	wantPage(t, "the webhook", page, 200, "HTTP Basic, user <code>herald</code>")
	if strings.Contains(page.body, "pw-s3cret") {
		t.Fatal("the webhook's page shows the password")
	}
	wantPage(t, "the edit form", b.get("/webhooks/"+id+"/edit"), 200, "Keep as it is: HTTP Basic")

	// Saved without choosing a method: the auth stays.
	edit := url.Values{"name": {"Authed"}, "url": {e.receiver.URL}, "scope": {"all"}}
	if p := b.do(http.MethodPost, "/webhooks/"+id, edit); p.status != http.StatusSeeOther {
		t.Fatalf("edit keeping the auth: %d\n%s", p.status, p.body)
	}
	wantPage(t, "kept", b.get("/webhooks/"+id), 200, "HTTP Basic, user <code>herald</code>")

	// A PEM that does not parse: the API's refusal on the form, the key not echoed.
	bad := url.Values{"name": {"Authed"}, "url": {"https://127.0.0.1:9/hook"}, "scope": {"all"},
		"auth_type": {"mtls"}, "auth_certificate": {"not a certificate"}, "auth_private_key": {"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END PRIVATE KEY-----"}}
	p = b.do(http.MethodPost, "/webhooks/"+id, bad)
	wantPage(t, "a bad certificate", p, http.StatusUnprocessableEntity, `role="alert"`, "auth.certificate")
	if strings.Contains(p.body, "c2VjcmV0LWtleQ==") {
		t.Fatal("the refused form echoes the private key")
	}

	cert, key := authtest.ClientCert(t, "portal-client", time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC))
	good := url.Values{"name": {"Authed"}, "url": {"https://127.0.0.1:9/hook"}, "scope": {"all"},
		"auth_type": {"mtls"}, "auth_certificate": {cert}, "auth_private_key": {key}}
	if p := b.do(http.MethodPost, "/webhooks/"+id, good); p.status != http.StatusSeeOther {
		t.Fatalf("edit to mtls: %d\n%s", p.status, p.body)
	}
	page = b.get("/webhooks/" + id)
	wantPage(t, "mtls", page, 200, "Mutual TLS (client certificate)", "CN=portal-client", "the certificate expires", "2031")
	if strings.Contains(page.body, "PRIVATE KEY") {
		t.Fatal("the webhook's page shows the key")
	}

	none := url.Values{"name": {"Authed"}, "url": {e.receiver.URL}, "scope": {"all"}, "auth_type": {"none"}}
	if p := b.do(http.MethodPost, "/webhooks/"+id, none); p.status != http.StatusSeeOther {
		t.Fatalf("edit to none: %d\n%s", p.status, p.body)
	}
	wantPage(t, "none", b.get("/webhooks/"+id), 200, "none besides the signature")
}
