package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
	"github.com/heraldhq/herald/wire"
)

// These tests check the receiver against Herald's real sender, wire.Build.

var (
	// sentAt is when the attempts are built; the event occurred at occurredAt.
	sentAt     = time.Date(2024, 1, 15, 14, 31, 7, 0, time.UTC)
	occurredAt = time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC)
)

func heraldWebhook(f webhook.Format) *herald.Webhook {
	return &herald.Webhook{ID: "wh_abc123", TenantID: "team_xyz", Format: herald.Format(f), Secret: vectorSecret}
}

func heraldEvent(typ string, data json.RawMessage) *herald.Event {
	return &herald.Event{ID: "evt_01JD0000000000000000000001", TenantID: "team_xyz", Type: typ, Data: data, Timestamp: occurredAt}
}

func build(t *testing.T, ev *herald.Event, wh *herald.Webhook, now time.Time) *wire.Request {
	t.Helper()
	req, err := wire.Build(ev, wh, "del_xyz789", now)
	if err != nil {
		t.Fatalf("wire.Build(%s): %v", wh.Format, err)
	}
	return req
}

// verifyAt verifies h and body with a Verifier of format for secrets whose clock says
// at.
func verifyAt(t *testing.T, at time.Time, format webhook.Format, secrets []string, h http.Header, body []byte) error {
	t.Helper()
	v := verifier(t, format, secrets...)
	v.Now = func() time.Time { return at }
	return v.Verify(h, body)
}

var allFormats = []webhook.Format{webhook.FormatInfraAudit, webhook.FormatFrugally, webhook.FormatStandard}

// TestWireEveryType builds a delivery of every catalog sample in every format and checks
// the receiver verifies it, parses the right fields and decodes its data.
func TestWireEveryType(t *testing.T) {
	t.Parallel()
	for _, et := range builtinTypes(t) {
		for _, f := range allFormats {
			t.Run(string(f)+"/"+et.Type, func(t *testing.T) {
				t.Parallel()
				ev := heraldEvent(et.Type, et.Sample)
				req := build(t, ev, heraldWebhook(f), sentAt)

				if err := verifyAt(t, sentAt, f, []string{vectorSecret}, req.Header, req.Body); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				e, err := webhook.Parse(f, req.Header, req.Body)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				want := webhook.Event{Format: f, Type: et.Type, Data: e.Data, Timestamp: e.Timestamp}
				switch f {
				case webhook.FormatInfraAudit:
					want.ID, want.WebhookID, want.DeliveryID = "del_xyz789", "wh_abc123", "del_xyz789"
				case webhook.FormatFrugally:
					want.ID, want.EventID, want.TeamID = ev.ID, ev.ID, "team_xyz"
				case webhook.FormatStandard:
					want.ID, want.EventID = ev.ID, ev.ID
				}
				if !reflect.DeepEqual(*e, want) {
					t.Errorf("Parse =\n%+v\nwant\n%+v", *e, want)
				}
				if !e.Timestamp.Equal(occurredAt) {
					t.Errorf("Timestamp = %v, want %v", e.Timestamp, occurredAt)
				}
				if !bytes.Equal(e.Data, ev.Data) {
					t.Errorf("Data = %s, want %s as published", e.Data, ev.Data)
				}

				p, err := e.Payload()
				if err != nil {
					t.Fatalf("Payload: %v", err)
				}
				wantPayload := reflect.New(reflect.TypeOf(p).Elem()).Interface()
				if err := json.Unmarshal(et.Sample, wantPayload); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(p, wantPayload) {
					t.Errorf("Payload = %+v, want %+v", p, wantPayload)
				}
			})
		}
	}
}

// TestWireSignaturesMatchSign checks Sign gives the headers wire.Build signs with, so the
// sender can switch to this package.
func TestWireSignaturesMatchSign(t *testing.T) {
	t.Parallel()
	for _, f := range allFormats {
		ev := heraldEvent(webhook.TypePing, json.RawMessage(`{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}`))
		req := build(t, ev, heraldWebhook(f), sentAt)
		h, err := webhook.Sign(f, vectorSecret, ev.ID, sentAt, req.Body)
		if err != nil {
			t.Fatalf("Sign(%s): %v", f, err)
		}
		for name := range h {
			if name == webhook.HeaderContentDigest && req.Header.Get(name) == "" {
				continue // wire did not always send it
			}
			if got, want := req.Header.Get(name), h.Get(name); got != want {
				t.Errorf("%s: wire sends %s: %q, Sign gives %q", f, name, got, want)
			}
		}
	}
}

// TestWireRotation checks a delivery built during a rotation's grace verifies with the
// old secret alone and with the new one alone, and after the grace with the new one only.
func TestWireRotation(t *testing.T) {
	t.Parallel()
	const unrelated = "whsec_dW5yZWxhdGVkIHNlY3JldCBvZiAyNCsgYnl0ZXM="
	for _, f := range allFormats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			wh := heraldWebhook(f)
			wh.PreviousSecret = otherSecret
			wh.PreviousSecretExpiresAt = sentAt.Add(time.Hour)
			ev := heraldEvent(webhook.TypeCostAnomaly, json.RawMessage(`{"anomaly_id":2,"actual_amount":452.30}`))

			during := build(t, ev, wh, sentAt)
			after := build(t, ev, wh, sentAt.Add(2*time.Hour))
			tests := []struct {
				name    string
				req     *wire.Request
				at      time.Time
				secrets []string
				ok      bool
			}{
				{"during, new secret", during, sentAt, []string{vectorSecret}, true},
				{"during, old secret", during, sentAt, []string{otherSecret}, true},
				{"during, both", during, sentAt, []string{otherSecret, vectorSecret}, true},
				{"during, unrelated secret", during, sentAt, []string{unrelated}, false},
				{"after, new secret", after, sentAt.Add(2 * time.Hour), []string{vectorSecret}, true},
				{"after, old secret", after, sentAt.Add(2 * time.Hour), []string{otherSecret}, false},
			}
			for _, tt := range tests {
				err := verifyAt(t, tt.at, f, tt.secrets, tt.req.Header, tt.req.Body)
				if tt.ok && err != nil {
					t.Errorf("%s: Verify: %v", tt.name, err)
				}
				if !tt.ok && !errors.Is(err, webhook.ErrSignatureMismatch) {
					t.Errorf("%s: Verify error = %v, want ErrSignatureMismatch", tt.name, err)
				}
			}
		})
	}
}

// TestWireTampered checks what Herald sent stops verifying once changed.
func TestWireTampered(t *testing.T) {
	t.Parallel()
	for _, f := range allFormats {
		req := build(t, heraldEvent(webhook.TypePing, json.RawMessage(`{"webhook_id":"wh_abc123","message":"hi"}`)), heraldWebhook(f), sentAt)
		body := bytes.Replace(req.Body, []byte(`"hi"`), []byte(`"ho"`), 1)
		err := verifyAt(t, sentAt, f, []string{vectorSecret}, req.Header, body)
		if !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Errorf("%s: Verify of a tampered body = %v, want ErrSignatureMismatch", f, err)
		}
		if f == webhook.FormatStandard {
			err := verifyAt(t, sentAt.Add(10*time.Minute), f, []string{vectorSecret}, req.Header, req.Body)
			if !errors.Is(err, webhook.ErrTimestampOutOfTolerance) {
				t.Errorf("Verify 10 minutes late = %v, want ErrTimestampOutOfTolerance", err)
			}
		}
	}
}

// TestWireHandler sends what wire.Build renders, over HTTP, to a Handler.
func TestWireHandler(t *testing.T) {
	t.Parallel()
	for _, f := range allFormats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			v, err := webhook.NewVerifier(f, vectorSecret)
			if err != nil {
				t.Fatal(err)
			}
			h := webhook.NewHandler(v, webhook.NewMemoryDeduper(0))
			h.Logger = slog.New(slog.DiscardHandler)
			got := make(chan *webhook.DriftDetected, 2)
			webhook.On(h, webhook.TypeDriftDetected, func(_ context.Context, _ *webhook.Event, d *webhook.DriftDetected) error {
				got <- d
				return nil
			})
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)

			data := json.RawMessage(`{"drift_id":55,"drift_type":"security","severity":"critical","resource_id":5,"resource_name":"data-lake-bucket","resource_type":"s3_bucket","provider_id":1,"summary":"BlockPublicAcls changed from true to false","detected_at":"2024-01-15T14:30:00Z"}`)
			req := build(t, heraldEvent(webhook.TypeDriftDetected, data), heraldWebhook(f), time.Now())
			send := func() (int, string) {
				r, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(req.Body))
				if err != nil {
					t.Fatal(err)
				}
				r.Header = req.Header.Clone()
				r.Header.Set("User-Agent", "Herald/test")
				resp, err := srv.Client().Do(r)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			status, answer := send()
			expect(t, status, answer, http.StatusOK, "ok")
			status, answer = send() // Herald's retry, the first answer having been lost
			expect(t, status, answer, http.StatusOK, "duplicate")
			if d := <-got; d.DriftID != 55 || d.Severity != "critical" {
				t.Errorf("handler got %+v", d)
			}
			if len(got) != 0 {
				t.Error("the retry was handled again")
			}
		})
	}
}
