package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldhq/herald/webhook"
)

func ExampleVerifier_Verify() {
	// The secret shown when the webhook was created; during a rotation, give both.
	v, err := webhook.NewVerifier(webhook.FormatFrugally, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}

	// What Herald sends (in a handler: the request's headers and raw body).
	body := []byte(`{"id":"evt_001","type":"schedule.paused","timestamp":"2025-03-10T19:00:00Z","team_id":"team_xyz","data":{"schedule_id":"sched_ghi789","name":"Dev Weekday Stop","paused_by":"user_abc"}}`)
	header, err := webhook.Sign(webhook.FormatFrugally, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "", time.Now(), body)
	if err != nil {
		panic(err)
	}

	fmt.Println(v.Verify(header, body))

	// A body changed on its way, here by a framework that re-serialised it.
	changed := []byte(strings.ReplaceAll(string(body), ",", ", "))
	err = v.Verify(header, changed)
	fmt.Println(errors.Is(err, webhook.ErrBodyChanged), errors.Is(err, webhook.ErrSignatureMismatch))
	fmt.Println(err)
	// Output:
	// <nil>
	// true true
	// webhook: signature does not match, and the body does not match its Content-Digest header: the body was changed after it was sent (the body is not compact JSON as Herald sends it: was it re-serialised? verify the raw bytes received)
}

func ExampleSignStandard() {
	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`)

	sig, err := webhook.SignStandard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id, ts, body)
	fmt.Println(sig, err)

	// With an ed25519 private key, receivers verify with the public key only.
	private := "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	sig, err = webhook.SignStandard(private, id, ts, body)
	fmt.Println(sig, err)
	public, _ := webhook.PublicKey(private)
	fmt.Println(public)

	v, _ := webhook.NewVerifier(webhook.FormatStandard, public)
	v.Now = func() time.Time { return time.Unix(ts, 0) }
	h := http.Header{}
	h.Set(webhook.HeaderWebhookID, id)
	h.Set(webhook.HeaderWebhookTimestamp, "1614265330")
	h.Set(webhook.HeaderWebhookSignature, sig)
	fmt.Println(v.Verify(h, body))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
	// v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== <nil>
	// whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=
	// <nil>
}

func ExampleParse() {
	// The InfraAudit drift.detected example, once verified.
	body := []byte(`{
  "event": "drift.detected",
  "timestamp": "2024-01-15T14:30:00Z",
  "webhook_id": "wh_abc123",
  "delivery_id": "del_xyz789",
  "data": {
    "drift_id": 55,
    "drift_type": "security",
    "severity": "critical",
    "resource_id": 5,
    "resource_name": "data-lake-bucket",
    "resource_type": "s3_bucket",
    "provider_id": 1,
    "summary": "BlockPublicAcls changed from true to false",
    "detected_at": "2024-01-15T14:30:00Z"
  }
}`)
	e, err := webhook.Parse(webhook.FormatInfraAudit, nil, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.ID, e.Type, e.Timestamp)

	p, err := e.Payload()
	if err != nil {
		panic(err)
	}
	switch d := p.(type) {
	case *webhook.DriftDetected:
		fmt.Printf("%s drift on %s: %s\n", d.Severity, d.ResourceName, d.Summary)
	case *webhook.DriftResolved:
		fmt.Printf("drift %d resolved\n", d.DriftID)
	}
	// Output:
	// del_xyz789 drift.detected 2024-01-15 14:30:00 +0000 UTC
	// critical drift on data-lake-bucket: BlockPublicAcls changed from true to false
}

func ExampleHandler() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
	if err != nil {
		panic(err)
	}
	h := webhook.NewHandler(v, webhook.NewMemoryDeduper(0))
	webhook.On(h, webhook.TypeBudgetExceeded, func(ctx context.Context, e *webhook.Event, b *webhook.BudgetExceeded) error {
		fmt.Printf("%s: %s is %.2f %s over budget\n", e.ID, b.ProjectName, b.Overspend, b.Currency)
		return nil
	})
	// In a server: http.Handle("POST /webhooks/herald", h)

	// Herald delivers an event, then delivers it again (the first answer was lost).
	body := `{"type":"budget.exceeded","timestamp":"2025-03-10T19:00:00Z","data":{"budget_id":"budget_def456","project_id":"proj_abc123","project_name":"Production Infrastructure","budget_name":"Monthly EC2 spend","amount":5000.00,"current_spend":5120.00,"overspend":120.00,"percentage_used":102.4,"currency":"USD","period":"monthly"}}`
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/herald", strings.NewReader(body))
		r.Header, _ = webhook.Sign(webhook.FormatStandard, secret, "evt_01JD", time.Now(), []byte(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body)
	}
	// Output:
	// evt_01JD: Production Infrastructure is 120.00 USD over budget
	// 200 ok
	// 200 duplicate
}

func ExampleHandler_hooks() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
	if err != nil {
		panic(err)
	}
	h := webhook.NewHandler(v, webhook.NewMemoryDeduper(0))
	h.On(webhook.TypePing, func(ctx context.Context, e *webhook.Event) error {
		fmt.Println("handled", e.ID)
		return nil
	})

	// What the On functions do not see: repeats, and refusals. Log them, count them.
	h.OnDuplicate = func(ctx context.Context, e *webhook.Event) {
		fmt.Println("duplicate", e.ID)
	}
	h.OnReject = func(r *http.Request, status int, err error) {
		if errors.Is(err, webhook.ErrSignatureMismatch) {
			fmt.Println(status, "not signed with our secret")
			return
		}
		fmt.Println(status, err)
	}

	// Herald delivers an event twice (the first answer was lost), then someone else
	// sends one signed with another secret.
	body := []byte(`{"type":"ping","timestamp":"2025-03-10T19:00:00Z","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}`)
	for _, signer := range []string{secret, secret, "whsec_YW5vdGhlci1lbmRwb2ludC1zZWNyZXQtMzJieXRlcyE="} {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/herald", bytes.NewReader(body))
		if r.Header, err = webhook.Sign(webhook.FormatStandard, signer, "evt_01JD", time.Now(), body); err != nil {
			panic(err)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Output:
	// handled evt_01JD
	// duplicate evt_01JD
	// 401 not signed with our secret
}

func ExampleMemoryDeduper() {
	ctx := context.Background()
	d := webhook.NewMemoryDeduper(48 * time.Hour)
	const key = "infraaudit:del_xyz789"

	seen, _ := d.Seen(ctx, key) // MemoryDeduper never fails
	fmt.Println(seen)

	// Handling failed, or the receiver died while handling: nothing was marked, so
	// Herald's retry is handled.
	seen, _ = d.Seen(ctx, key)
	fmt.Println(seen)

	// Handling succeeded: mark it, and Herald's next copy is a duplicate.
	_ = d.Done(ctx, key)
	seen, _ = d.Seen(ctx, key)
	fmt.Println(seen)
	// Output:
	// false
	// false
	// true
}

func ExampleVerifier_VerifyMessage() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
	if err != nil {
		panic(err)
	}

	// A message as a broker client hands it over: the body, and headers with lower-case
	// names, one value each (NATS msg.Header, Kafka record headers, an AMQP header
	// table, or a Redis stream entry's fields beside "body"). Here it is signed on the
	// spot in place of Herald.
	body := []byte(`{"type":"ping","timestamp":"2025-03-10T19:00:00Z","data":{}}`)
	signed, err := webhook.Sign(webhook.FormatStandard, secret, "evt_001", time.Now(), body)
	if err != nil {
		panic(err)
	}
	headers := map[string]string{}
	for name, values := range signed {
		headers[strings.ToLower(name)] = values[0]
	}

	fmt.Println(v.VerifyMessage(headers, body))
	fmt.Println(errors.Is(v.VerifyMessage(headers, []byte(`{"type":"forged"}`)), webhook.ErrSignatureMismatch))
	// Output:
	// <nil>
	// true
}
