package notice

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/authtest"
)

// clientCert is mutual-TLS auth with a certificate for cn that expires at notAfter.
func clientCert(t *testing.T, cn string, notAfter time.Time) *herald.EndpointAuth {
	t.Helper()
	cert, key := authtest.ClientCert(t, cn, notAfter)
	return &herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: key}
}

// TestCertificateExpiryNoticeGoesOutOnce: a certificate within 14 days of its expiry
// raises one notice, whichever process checks and however often; one further off
// raises none; a replacement certificate gets its own.
func TestCertificateExpiryNoticeGoesOutOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	now := time.Now().UTC()
	if _, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/", Format: herald.FormatStandard}, now); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateTenant(ctx, &herald.Tenant{ID: "team_1", Name: "one", CreatedAt: now}, herald.HashKey("k1")); err != nil {
		t.Fatal(err)
	}
	hook := func(auth *herald.EndpointAuth) *herald.Webhook {
		w := &herald.Webhook{ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_1", Name: "mtls hook",
			URL: "https://x.example/", Enabled: true, Format: herald.FormatStandard, Secret: herald.NewSecret(), Auth: auth}
		if err := store.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	soon := hook(clientCert(t, "soon", now.Add(10*24*time.Hour)))
	hook(clientCert(t, "later", now.Add(60*24*time.Hour)))
	hook(&herald.EndpointAuth{Type: herald.AuthBearer, Token: "t"})

	a, _ := New(Config{Store: store, OpsWebhookID: OpsWebhookID})
	b, _ := New(Config{Store: store, OpsWebhookID: OpsWebhookID}) // another process
	for i, s := range []*Sender{a, a, b} {
		n, err := s.CheckCertificates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[i == 0]; n != want {
			t.Fatalf("check %d raised %d notices, want %d", i, n, want)
		}
	}
	notices := func() []herald.CertificateExpiringData {
		ds, _, err := store.Deliveries(ctx, herald.DeliveryFilter{WebhookID: OpsWebhookID})
		if err != nil {
			t.Fatal(err)
		}
		var out []herald.CertificateExpiringData
		for _, d := range ds {
			if d.EventType != herald.NoticeCertificateExpiring {
				continue
			}
			ev, err := store.Event(ctx, d.EventID)
			if err != nil {
				t.Fatal(err)
			}
			var data herald.CertificateExpiringData
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			out = append(out, data)
		}
		return out
	}
	got := notices()
	if len(got) != 1 || got[0].WebhookID != soon.ID || got[0].Subject != "CN=soon" || got[0].ExpiresAt.Sub(now.Add(10*24*time.Hour)).Abs() > time.Second {
		t.Fatalf("notices to the operator webhook %+v, want one about %s", got, soon.ID)
	}
	if strings.Contains(string(mustJSON(t, got)), "PRIVATE KEY") {
		t.Fatal("the notice holds the key")
	}

	// A replacement that also expires soon is a new certificate: a new notice.
	w, _ := store.Webhook(ctx, soon.ID)
	w.Auth = clientCert(t, "soon-2", now.Add(5*24*time.Hour))
	if err := store.UpdateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if n, err := b.CheckCertificates(ctx); err != nil || n != 1 {
		t.Fatalf("after a new certificate: %d notices (err %v), want 1", n, err)
	}
	if got := notices(); len(got) != 2 {
		t.Fatalf("%d certificate notices, want 2", len(got))
	}

	subject, body, err := text(herald.CertificateExpiringNotice(w, "CN=soon-2", now.Add(5*24*time.Hour), now), nil, time.Hour)
	if err != nil || !strings.Contains(subject, "expires soon") || !strings.Contains(body, "--auth-mtls-cert") {
		t.Fatalf("email %q / %q (err %v), want one about the expiring certificate", subject, body, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
