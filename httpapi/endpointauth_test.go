package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/authtest"
)

// authView is a webhook's auth as the API shows it.
type authView struct {
	Type                 string     `json:"type"`
	Username             string     `json:"username"`
	TokenURL             string     `json:"token_url"`
	ClientID             string     `json:"client_id"`
	Scopes               []string   `json:"scopes"`
	Audience             string     `json:"audience"`
	CertificateExpiresAt *time.Time `json:"certificate_expires_at"`
	CertificateSubject   string     `json:"certificate_subject"`
}

func TestWebhookAuthIsStoredAndNeverReturned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expires := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second).UTC()
	cert, key := authtest.ClientCert(t, "herald-client", expires)
	secrets := []string{"pa55word", "t0ken-value", "cl1ent-secret", strings.TrimSpace(key)}
	for _, tc := range []struct {
		url  string
		auth map[string]any
		want authView
	}{
		{hookURL, map[string]any{"type": "basic", "username": "herald", "password": "pa55word"}, authView{Type: "basic", Username: "herald"}},
		{hookURL, map[string]any{"type": "bearer", "token": "t0ken-value"}, authView{Type: "bearer"}},
		{hookURL, map[string]any{"type": "oauth2_client_credentials", "token_url": "http://127.0.0.1:9/token",
			"client_id": "herald", "client_secret": "cl1ent-secret", "scopes": []string{"a", "b"}, "audience": "api"},
			authView{Type: "oauth2_client_credentials", TokenURL: "http://127.0.0.1:9/token", ClientID: "herald", Scopes: []string{"a", "b"}, Audience: "api"}},
		{"https://127.0.0.1:9/hook", map[string]any{"type": "mtls", "certificate": cert, "private_key": key},
			authView{Type: "mtls", CertificateExpiresAt: &expires, CertificateSubject: "CN=herald-client"}},
	} {
		r := e.must(http.StatusCreated, "POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "hook", "url": tc.url, "auth": tc.auth}, nil)
		var created struct {
			ID   string   `json:"id"`
			Auth authView `json:"auth"`
		}
		if err := json.Unmarshal(r.body, &created); err != nil {
			t.Fatal(err)
		}
		got := e.must(http.StatusOK, "GET", "/api/v1/webhooks/"+created.ID, e.adminKey, nil, nil)
		list := e.must(http.StatusOK, "GET", "/api/v1/webhooks", e.adminKey, nil, nil)
		for _, body := range [][]byte{r.body, got.body, list.body} {
			for _, s := range secrets {
				if strings.Contains(string(body), s) || strings.Contains(string(body), "PRIVATE KEY") {
					t.Fatalf("%s auth: a response holds a secret: %s", tc.auth["type"], body)
				}
			}
		}
		gotJSON, _ := json.Marshal(created.Auth)
		wantJSON, _ := json.Marshal(tc.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s auth shown as %s, want %s", tc.auth["type"], gotJSON, wantJSON)
		}
		w, err := e.store.Webhook(context.Background(), created.ID)
		if err != nil || w.Auth == nil || w.Auth.Type != herald.AuthType(tc.auth["type"].(string)) {
			t.Fatalf("stored auth %+v (err %v), want type %s", w.Auth, err, tc.auth["type"])
		}
	}
}

func TestWebhookAuthUpdateReplacesAndRemoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, map[string]any{"auth": map[string]any{"type": "bearer", "token": "first"}})
	path := "/api/v1/webhooks/" + w.ID
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"name": "renamed"}, nil)
	if got, _ := e.store.Webhook(context.Background(), w.ID); got.Auth == nil || got.Auth.Token != "first" {
		t.Fatalf("an update without auth changed it to %+v", got.Auth)
	}
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"auth": map[string]any{"type": "basic", "username": "u", "password": "p"}}, nil)
	if got, _ := e.store.Webhook(context.Background(), w.ID); got.Auth == nil || got.Auth.Type != herald.AuthBasic || got.Auth.Token != "" {
		t.Fatalf("auth after replacing it = %+v, want basic alone", got.Auth)
	}
	r := e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"auth": map[string]any{"type": "none"}}, nil)
	if strings.Contains(string(r.body), `"auth"`) {
		t.Errorf("a webhook without auth shows one: %s", r.body)
	}
	if got, _ := e.store.Webhook(context.Background(), w.ID); got.Auth != nil {
		t.Fatalf("auth after type none = %+v, want none", got.Auth)
	}
	// mtls needs https, also when the url changes later.
	cert, key := authtest.ClientCert(t, "c", time.Now().Add(time.Hour*48))
	checkError(t, e.do("PATCH", path, e.adminKey, map[string]any{"auth": map[string]any{"type": "mtls", "certificate": cert, "private_key": key}}), 422, herald.EINVALID)
	e.must(http.StatusOK, "PATCH", path, e.adminKey, map[string]any{"url": "https://127.0.0.1:9/hook", "auth": map[string]any{"type": "mtls", "certificate": cert, "private_key": key}}, nil)
	b := checkError(t, e.do("PATCH", path, e.adminKey, map[string]any{"url": hookURL}), 422, herald.EINVALID)
	if !strings.Contains(*b.Error, "https") {
		t.Errorf("moving an mtls webhook to http: %q, want it to say https", *b.Error)
	}
}

func TestWebhookAuthRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert, key := authtest.ClientCert(t, "c", time.Now().Add(48*time.Hour))
	_, otherKey := authtest.ClientCert(t, "other", time.Now().Add(48*time.Hour))
	oldCert, oldKey := authtest.ClientCert(t, "old", time.Now().Add(-time.Hour))
	tls := "https://127.0.0.1:9/hook"
	for _, tc := range []struct {
		name     string
		url      string
		auth     any
		contains string
	}{
		{"unknown type", hookURL, map[string]any{"type": "digest"}, ""},
		{"no type", hookURL, map[string]any{"token": "x"}, ""},
		{"basic without password", hookURL, map[string]any{"type": "basic", "username": "u"}, "auth.password"},
		{"basic with colon in user", hookURL, map[string]any{"type": "basic", "username": "a:b", "password": "p"}, "colon"},
		{"bearer without token", hookURL, map[string]any{"type": "bearer"}, "auth.token"},
		{"bearer with a field of basic", hookURL, map[string]any{"type": "bearer", "token": "t", "password": "p"}, "auth.password"},
		{"bearer with Bearer prefix", hookURL, map[string]any{"type": "bearer", "token": "Bearer abc"}, "spaces"},
		{"oauth2 without client secret", hookURL, map[string]any{"type": "oauth2_client_credentials", "token_url": "https://idp.example/token", "client_id": "c"}, "auth.client_secret"},
		{"oauth2 token url not http", hookURL, map[string]any{"type": "oauth2_client_credentials", "token_url": "ftp://idp/token", "client_id": "c", "client_secret": "s"}, "auth.token_url"},
		{"oauth2 scope with space", hookURL, map[string]any{"type": "oauth2_client_credentials", "token_url": "https://idp.example/token", "client_id": "c", "client_secret": "s", "scopes": []string{"a b"}}, "scope"},
		{"mtls PEM that does not parse", tls, map[string]any{"type": "mtls", "certificate": "not pem", "private_key": key}, "auth.certificate"},
		{"mtls key that does not parse", tls, map[string]any{"type": "mtls", "certificate": cert, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "auth.private_key"},
		{"mtls key not matching cert", tls, map[string]any{"type": "mtls", "certificate": cert, "private_key": otherKey}, "not the key"},
		{"mtls expired cert", tls, map[string]any{"type": "mtls", "certificate": oldCert, "private_key": oldKey}, "expired"},
		{"mtls over http", hookURL, map[string]any{"type": "mtls", "certificate": cert, "private_key": key}, "https"},
		{"none with fields", hookURL, map[string]any{"type": "none", "token": "x"}, "none"},
		{"unknown auth field", hookURL, map[string]any{"type": "bearer", "token": "x", "colour": "blue"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/webhooks", e.adminKey, map[string]any{"name": "hook", "url": tc.url, "auth": tc.auth})
			b := checkError(t, r, 422, herald.EINVALID)
			if tc.contains != "" && !strings.Contains(*b.Error, tc.contains) {
				t.Errorf("error %q does not say %q", *b.Error, tc.contains)
			}
			if strings.Contains(string(r.body), "PRIVATE KEY") {
				t.Errorf("the error echoes the key: %s", r.body)
			}
		})
	}
}
