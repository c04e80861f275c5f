package wire_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
	"github.com/heraldhq/herald/wire"
)

func ExampleBuild() {
	ev := &herald.Event{
		ID:        "evt_01JD0000000000000000000001",
		TenantID:  "team_xyz",
		Type:      "ping",
		Data:      json.RawMessage(`{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}`),
		Timestamp: time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC),
	}
	wh := &herald.Webhook{ID: "wh_abc123", Format: herald.FormatInfraAudit, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

	req, err := wire.Build(ev, wh, "del_abc008", time.Date(2024, 1, 15, 10, 0, 1, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(req.Body))
	fmt.Println(req.Header.Get("X-InfraAudit-Signature") == webhook.SignSHA256(wh.Secret, req.Body))
	// Output:
	// {"event":"ping","timestamp":"2024-01-15T10:00:00Z","webhook_id":"wh_abc123","delivery_id":"del_abc008","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}
	// true
}

func ExamplePolicy_NextDelay() {
	p := wire.DefaultPolicy(herald.FormatFrugally)
	now := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	for attempt := 1; ; attempt++ {
		delay, retry := p.NextDelay(attempt, 500, "", now, 0.5)
		if !retry {
			fmt.Printf("attempt %d failed: delivery failed\n", attempt)
			break
		}
		fmt.Printf("attempt %d failed: retry in %s\n", attempt, delay)
	}
	// A 503 asking for 3 minutes after the first attempt waits 2 minutes: the clamp is
	// [scheduled delay, twice it].
	delay, _ := p.NextDelay(1, 503, "180", now, 0.5)
	fmt.Println(delay)
	// Output:
	// attempt 1 failed: retry in 1m0s
	// attempt 2 failed: retry in 5m0s
	// attempt 3 failed: retry in 30m0s
	// attempt 4 failed: retry in 2h0m0s
	// attempt 5 failed: retry in 12h0m0s
	// attempt 6 failed: delivery failed
	// 2m0s
}
