package notice

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
)

// openStore returns a real SQLite store in a temporary directory.
func openStore(t *testing.T) herald.Store {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func TestEnsureOpsWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	now := time.Now().UTC()

	generated, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/a", Format: herald.FormatStandard}, now)
	if err != nil || !strings.HasPrefix(generated, herald.SecretPrefix) {
		t.Fatalf("first start: secret %q, %v; want a generated whsec_ secret", generated, err)
	}
	if _, err := store.Tenant(ctx, herald.OpsTenantID); err != nil {
		t.Fatalf("operator tenant: %v", err)
	}
	w := readOps(t, store)
	if w.TenantID != herald.OpsTenantID || w.URL != "https://ops.example/a" || w.Secret != generated || !w.Enabled {
		t.Fatalf("created %+v, want the URL, the operator tenant, the generated secret, enabled", w)
	}

	// A restart with the same configuration changes nothing and shows no secret.
	again, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/a", Format: herald.FormatStandard}, now)
	if err != nil || again != "" {
		t.Fatalf("restart: secret %q, %v; want none shown", again, err)
	}
	if got := readOps(t, store); got.Secret != generated || !got.UpdatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("restart changed the webhook: secret kept %v, updated_at %v → %v", got.Secret == generated, w.UpdatedAt, got.UpdatedAt)
	}

	// Disabled meanwhile, then a new URL, format and secret: all applied, enabled again.
	w.Enabled, w.DisabledReason = false, "disabled through the API"
	if err := store.UpdateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	secret := "a-frugally-secret-of-some-length"
	if _, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/b", Format: herald.FormatFrugally, Secret: secret}, now); err != nil {
		t.Fatal(err)
	}
	if got := readOps(t, store); got.URL != "https://ops.example/b" || got.Format != herald.FormatFrugally || got.Secret != secret || !got.Enabled || got.DisabledReason != "" {
		t.Fatalf("after reconfiguration %+v, want URL b, frugally, the new secret, enabled", got)
	}

	// That secret cannot sign standard: refused with a message naming the flag.
	_, err = EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/b", Format: herald.FormatStandard}, now)
	if err == nil || !strings.Contains(err.Error(), "--ops-webhook-secret") {
		t.Fatalf("standard with a frugally secret: %v, want an error naming --ops-webhook-secret", err)
	}
}

func readOps(t *testing.T, store herald.Store) *herald.Webhook {
	t.Helper()
	w, err := store.Webhook(context.Background(), OpsWebhookID)
	if err != nil {
		t.Fatalf("read the operator webhook: %v", err)
	}
	return w
}

// TestNotifyPublishes checks that a notice becomes one delivery to the operator webhook,
// and that notices about the operator webhook are dropped.
func TestNotifyPublishes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	if _, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/", Format: herald.FormatStandard}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, OpsWebhookID: OpsWebhookID})
	if err != nil {
		t.Fatal(err)
	}
	hook := &herald.Webhook{ID: "wh_1", TenantID: "team_1", Name: "n", URL: "https://x.example/"}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel() // a request that ended: its notice is still published
	s.Notify(ctxDone, herald.WebhookDisabledNotice(hook, "10 consecutive failed attempts", time.Now()))

	ops := readOps(t, store)
	s.Notify(ctx, herald.WebhookDisabledNotice(ops, "endpoint answered 410 Gone", time.Now()))
	s.Notify(ctx, herald.Notice{Type: herald.NoticeDeliveryExhausted, TenantID: herald.OpsTenantID, WebhookID: "wh_other"})

	ds, _, err := store.Deliveries(ctx, herald.DeliveryFilter{WebhookID: OpsWebhookID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].EventType != herald.NoticeWebhookDisabled {
		t.Fatalf("%d deliveries to the operator webhook (%+v); want one webhook.disabled", len(ds), ds)
	}
	ev, err := store.Event(ctx, ds[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	var data herald.WebhookDisabledData
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.WebhookID != "wh_1" || data.TenantID != "team_1" || data.Reason == "" {
		t.Fatalf("published data %s (%v), want webhook wh_1 of team_1 with its reason", ev.Data, err)
	}
}

// TestNotifyNeverBlocks fills the email queue with nobody draining it.
func TestNotifyNeverBlocks(t *testing.T) {
	t.Parallel()
	m, err := ParseMail("smtp://127.0.0.1:1", "herald@example.test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: openStore(t), Mail: m, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			s.Notify(context.Background(), herald.WebhookEnabledNotice(&herald.Webhook{ID: "wh_1", TenantID: "team_1"}, time.Now()))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked on a full email queue")
	}
}

func TestCompose(t *testing.T) {
	t.Parallel()
	from, _ := mail.ParseAddress("Herald <herald@example.test>")
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	hook := &herald.Webhook{ID: "wh_1", TenantID: "team_1", Name: "costs\r\nBcc: victim@example.test", URL: "https://x.example/hook?a=b", Secret: "whsec_c2VjcmV0"}
	tests := []struct {
		name    string
		notice  herald.Notice
		subject string
		body    []string
	}{
		{
			name:    "disabled",
			notice:  herald.WebhookDisabledNotice(hook, "10 consecutive failed attempts", at),
			subject: "Herald: your webhook endpoint costs",
			body:    []string{"https://x.example/hook?a=b", "10 consecutive failed attempts", "Tue, 4 Mar 2025 05:06:07 UTC", "PATCH /api/v1/webhooks/wh_1", `{"enabled": true}`},
		},
		{
			name:    "enabled",
			notice:  herald.WebhookEnabledNotice(hook, at),
			subject: "was enabled",
			body:    []string{"https://x.example/hook?a=b", "Tue, 4 Mar 2025 05:06:07 UTC"},
		},
		{
			name: "exhausted",
			notice: herald.DeliveryExhaustedNotice(&herald.Delivery{ID: "del_1", WebhookID: "wh_1", TenantID: "team_1"},
				&herald.Event{ID: "evt_1", Type: "budget.exceeded"}, 6, "endpoint answered 500 Internal Server Error", at),
			subject: "Herald: a delivery to your webhook endpoint costs",
			body:    []string{"https://x.example/hook?a=b", "evt_1 (budget.exceeded)", "after 6 attempts", "500 Internal Server Error", "POST /api/v1/deliveries/del_1/retry", "once every 1h."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, rcpt, err := compose(tt.notice, hook, from, "Owner <owner@example.test>", time.Hour, at)
			if err != nil || rcpt != "owner@example.test" {
				t.Fatalf("compose: %v, recipient %q", err, rcpt)
			}
			msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatalf("message does not parse: %v\n%s", err, raw)
			}
			if len(msg.Header["Bcc"]) > 0 || strings.Contains(string(raw), "\nBcc:") {
				t.Fatalf("a webhook name injected a header:\n%s", raw)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || !strings.Contains(subject, tt.subject) {
				t.Errorf("subject %q (%v), want it to contain %q", subject, err, tt.subject)
			}
			body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.body {
				if !strings.Contains(string(body), want) {
					t.Errorf("body does not contain %q:\n%s", want, body)
				}
			}
			if strings.Contains(string(raw), hook.Secret) || strings.Contains(string(body), hook.Secret) {
				t.Errorf("the email contains the webhook's secret")
			}
		})
	}
}

func TestParseMail(t *testing.T) {
	t.Parallel()
	m, err := ParseMail("smtp://u%40x:p%3Ass@mail.example", "herald@example.test")
	if err != nil || m.user != "u@x" || m.pass != "p:ss" || m.host != "mail.example" || m.port != "587" {
		t.Fatalf("ParseMail: %+v, %v; want user u@x, password p:ss, port 587", m, err)
	}
	for _, tc := range []struct{ url, from string }{
		{"smtps://mail.example", "herald@example.test"},
		{"smtp://mail.example/path", "herald@example.test"},
		{"smtp://mail.example", ""},
		{"smtp://mail.example", "not an address"},
		{"smtp://user:hunter2@mail.example:bad port", "herald@example.test"},
	} {
		_, err := ParseMail(tc.url, tc.from)
		if err == nil {
			t.Errorf("ParseMail(%q, %q) accepted", tc.url, tc.from)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseMail(%q): the error shows the password: %v", tc.url, err)
		}
	}
}

// TestNotifyLimits checks the two limits that keep notices from piling up: while the
// operator webhook is disabled no delivery is queued for it, and a webhook's failed
// deliveries make one delivery.exhausted notice per ExhaustedEvery, not one each.
func TestNotifyLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	if _, err := EnsureOpsWebhook(ctx, store, OpsWebhook{URL: "https://ops.example/", Format: herald.FormatStandard}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, OpsWebhookID: OpsWebhookID})
	if err != nil {
		t.Fatal(err)
	}
	exhausted := func(webhookID string) herald.Notice {
		return herald.Notice{Type: herald.NoticeDeliveryExhausted, TenantID: "team_1", WebhookID: webhookID,
			Data: json.RawMessage(`{}`), At: time.Now()}
	}
	for range 5 {
		s.Notify(ctx, exhausted("wh_down"))
	}
	s.Notify(ctx, exhausted("wh_other"))
	count := func() int {
		t.Helper()
		_, n, err := store.Deliveries(ctx, herald.DeliveryFilter{WebhookID: OpsWebhookID})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Errorf("%d notices for 5 failures of one webhook and 1 of another, want 2", n)
	}

	ops := readOps(t, store)
	ops.Enabled = false
	if err := store.UpdateWebhook(ctx, ops); err != nil {
		t.Fatal(err)
	}
	hook := &herald.Webhook{ID: "wh_1", TenantID: "team_1", Name: "n", URL: "https://x.example/"}
	s.Notify(ctx, herald.WebhookDisabledNotice(hook, "10 consecutive failed attempts", time.Now()))
	if n := count(); n != 2 {
		t.Errorf("%d deliveries after a notice to the disabled operator webhook, want still 2", n)
	}
	b, err := store.Backlog(ctx, time.Now())
	if err != nil || b.Pending != 0 {
		t.Errorf("backlog %+v (%v): a notice left a delivery pending", b, err)
	}
}
