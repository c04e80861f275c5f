package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testEndpointAuth: a webhook's auth is stored whole, read back by every read of the
// webhook (claims included), replaced and removed by UpdateWebhook.
func testEndpointAuth(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	tenant := addTenant(t, st)
	bearer := &herald.EndpointAuth{Type: herald.AuthBearer, Token: "tok-" + herald.NewSecret()}
	w := addWebhook(t, st, tenant, func(w *herald.Webhook) { w.Auth = bearer })
	plain := addWebhook(t, st, tenant)

	if got := getWebhook(t, st, w.ID).Auth; !reflect.DeepEqual(got, bearer) {
		t.Fatalf("auth read back as %+v, want %+v", got, bearer)
	}
	if got := getWebhook(t, st, plain.ID).Auth; got != nil {
		t.Fatalf("a webhook created without auth reads back with %+v, want nil", got)
	}
	ws, _, err := st.Webhooks(ctx, herald.WebhookFilter{TenantID: tenant})
	ok(t, err, "list webhooks")
	for _, lw := range ws {
		if lw.ID == w.ID && !reflect.DeepEqual(lw.Auth, bearer) {
			t.Errorf("listed webhook's auth = %+v, want %+v", lw.Auth, bearer)
		}
	}

	publishEvent(t, st, tenant, "ping", t0)
	cs, err := st.ClaimDue(ctx, herald.ClaimRequest{Owner: "auth", Now: time.Now(), LeaseUntil: time.Now().Add(30 * time.Second), Limit: 10})
	ok(t, err, "claim due")
	found := false
	for _, c := range cs {
		if c.Webhook.ID == w.ID {
			found = true
			if !reflect.DeepEqual(c.Webhook.Auth, bearer) {
				t.Errorf("claimed delivery's webhook auth = %+v, want %+v", c.Webhook.Auth, bearer)
			}
		}
	}
	if !found {
		t.Fatalf("claimed %d deliveries, none to the webhook with auth", len(cs))
	}

	oauth := &herald.EndpointAuth{Type: herald.AuthOAuth2, TokenURL: "https://idp.example/token",
		ClientID: "herald", ClientSecret: "s3cret", Scopes: []string{"a", "b"}, Audience: "api"}
	got := getWebhook(t, st, w.ID)
	got.Auth = oauth
	ok(t, st.UpdateWebhook(ctx, got), "update webhook auth")
	if got := getWebhook(t, st, w.ID).Auth; !reflect.DeepEqual(got, oauth) {
		t.Fatalf("auth after update = %+v, want %+v", got, oauth)
	}
	got = getWebhook(t, st, w.ID)
	got.Auth = nil
	ok(t, st.UpdateWebhook(ctx, got), "remove webhook auth")
	if got := getWebhook(t, st, w.ID).Auth; got != nil {
		t.Fatalf("auth after removing it = %+v, want nil", got)
	}
}

// testResealAuth: ResealSecrets re-seals endpoint auth with the secrets, so the old
// key can be dropped.
func testResealAuth(t *testing.T, db Database) {
	ctx := t.Context()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := db(t, newRing(t, oldKey))
	tenant := addTenant(t, before)
	auth := &herald.EndpointAuth{Type: herald.AuthBasic, Username: "herald", Password: "pw-" + herald.NewSecret()}
	w := addWebhook(t, before, tenant, func(w *herald.Webhook) { w.Auth = auth })
	addWebhook(t, before, tenant)

	rotating := db(t, newRing(t, newKey, oldKey))
	n, err := rotating.ResealSecrets(ctx, 10)
	ok(t, err, "re-seal")
	if n != 3 {
		t.Errorf("ResealSecrets re-sealed %d values, want 3 (two secrets and one auth)", n)
	}
	after := db(t, newRing(t, newKey))
	got, err := after.Webhook(ctx, w.ID)
	ok(t, err, "read with only the new key")
	if !reflect.DeepEqual(got.Auth, auth) {
		t.Fatalf("auth after re-sealing = %+v, want %+v", got.Auth, auth)
	}
}
