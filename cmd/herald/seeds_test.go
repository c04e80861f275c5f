package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/webhook"
)

// TestSeedEventsDeliveredAndVerified publishes every seed example and checks, at a
// real receiver per format, that each arrives in its format's envelope with the
// example's data, and that its signature verifies the way each product's docs say:
// InfraAudit's algorithm computed here, Frugally's Python snippet run by python3, and
// the official Standard Webhooks library. Afterwards no secret or key may be found in
// plaintext anywhere in the data directory.
func TestSeedEventsDeliveredAndVerified(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Frugally snippet cannot run (.ci/run installs it)")
	}
	seeds := catalogtest.SeedExamples(t)
	srv := startServer(t, t.TempDir())

	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"id": "team_xyz", "name": "XYZ"}, &tenant); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}

	formats := []string{"infraaudit", "frugally", "standard"}
	receivers := map[string]*receiver{}
	hooks := map[string]webhookResource{}
	for _, f := range formats {
		receivers[f] = newReceiver(t)
		var wh webhookResource
		code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": f + " receiver", "url": receivers[f].URL, "events": []string{"*"}, "format": f, "tenant_id": "team_xyz",
		}, &wh)
		if code != 201 || wh.Secret == "" {
			t.Fatalf("create %s webhook: %d, secret %q", f, code, wh.Secret)
		}
		hooks[f] = wh
	}

	eventIDs := map[string]string{} // type → event id
	for typ, data := range seeds {
		var res struct {
			ID         string `json:"id"`
			Deliveries int    `json:"deliveries"`
		}
		code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"type": typ, "data": data, "tenant_id": "team_xyz", "timestamp": "2024-01-15T14:30:00Z",
		}, &res)
		if code != 202 || res.Deliveries != 3 {
			t.Fatalf("publish %s: %d with %d deliveries, want 202 with 3", typ, code, res.Deliveries)
		}
		eventIDs[typ] = res.ID
	}

	for _, f := range formats {
		// The creation ping, then one request per seed type.
		got := receivers[f].waitFor(t, len(seeds)+1, 30*time.Second)
		seen := map[string]bool{}
		for _, req := range got {
			typ, data := checkEnvelope(t, f, hooks[f].ID, eventIDs, req)
			verifySignature(t, f, python, hooks[f].Secret, req)
			receiveTyped(t, f, hooks[f].Secret, req)
			if typ == "ping" && strings.Contains(string(data), hooks[f].ID) {
				continue // the creation ping: its data names this webhook
			}
			if !jsonEqual(t, data, seeds[typ]) {
				t.Errorf("%s %s: data %s, want the seed example %s", f, typ, data, seeds[typ])
			}
			seen[typ] = true
		}
		if len(seen) != len(seeds) {
			t.Errorf("%s received %d distinct seed types, want %d", f, len(seen), len(seeds))
		}
	}

	srv.stop()
	secrets := []string{testAdminKey, tenant.APIKey}
	for _, wh := range hooks {
		secrets = append(secrets, wh.Secret, strings.TrimPrefix(wh.Secret, "whsec_"))
	}
	assertNoPlaintext(t, srv.DataDir, secrets)
}

// receiveTyped checks req as a receiver using the webhook library would: it verifies,
// parses into the type's struct, and the struct encodes back to the data as sent.
func receiveTyped(t *testing.T, f, secret string, req delivered) {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.Format(f), secret)
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	if err := v.Verify(req.Header, req.Body); err != nil {
		t.Errorf("%s: webhook.Verify: %v", f, err)
	}
	ev, err := webhook.Parse(webhook.Format(f), req.Header, req.Body)
	if err != nil {
		t.Fatalf("%s: webhook.Parse: %v", f, err)
	}
	payload, err := ev.Payload()
	if err != nil {
		t.Fatalf("%s %s: Payload: %v", f, ev.Type, err)
	}
	if _, raw := payload.(json.RawMessage); raw {
		t.Fatalf("%s %s: the library has no struct for it", f, ev.Type)
	}
	again, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, again, ev.Data) {
		t.Errorf("%s %s: %T encodes to %s, want the data as sent %s", f, ev.Type, payload, again, ev.Data)
	}
}

// checkEnvelope checks a delivered body against format f's envelope and returns the
// event type and data it carries.
func checkEnvelope(t *testing.T, f, webhookID string, eventIDs map[string]string, req delivered) (string, json.RawMessage) {
	t.Helper()
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", f, ct)
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Herald/") {
		t.Errorf("%s: User-Agent %q", f, ua)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &keys); err != nil {
		t.Fatalf("%s: body is not a JSON object: %q", f, req.Body)
	}
	want := map[string][]string{
		"infraaudit": {"event", "timestamp", "webhook_id", "delivery_id", "data"},
		"frugally":   {"id", "type", "timestamp", "team_id", "data"},
		"standard":   {"type", "timestamp", "data"},
	}[f]
	if len(keys) != len(want) {
		t.Errorf("%s: body keys %v, want %v", f, mapKeys(keys), want)
	}
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s: body lacks %q: %s", f, k, req.Body)
		}
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(keys[k], &s) // a missing or non-string key was reported above
		return s
	}
	typ := str("type")
	switch f {
	case "infraaudit":
		typ = str("event")
		if str("webhook_id") != webhookID || !strings.HasPrefix(str("delivery_id"), "del_") {
			t.Errorf("infraaudit: webhook_id %q delivery_id %q", str("webhook_id"), str("delivery_id"))
		}
	case "frugally":
		if str("team_id") != "team_xyz" || (typ != "ping" && str("id") != eventIDs[typ]) {
			t.Errorf("frugally %s: id %q team_id %q, want %q team_xyz", typ, str("id"), str("team_id"), eventIDs[typ])
		}
	case "standard":
		if id := req.Header.Get("webhook-id"); typ != "ping" && id != eventIDs[typ] {
			t.Errorf("standard %s: webhook-id %q, want the event id %q", typ, id, eventIDs[typ])
		}
	}
	if ts := str("timestamp"); typ != "ping" && ts != "2024-01-15T14:30:00Z" {
		t.Errorf("%s %s: timestamp %q, want the event's 2024-01-15T14:30:00Z", f, typ, ts)
	}
	return typ, keys["data"]
}

// verifySignature checks req's signature with format f's documented verifier.
func verifySignature(t *testing.T, f, python, secret string, req delivered) {
	t.Helper()
	switch f {
	case "infraaudit":
		// InfraAudit: sha256= and the hex HMAC-SHA256 of the raw body, keyed with the
		// secret string.
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(req.Body)
		if got, want := req.Header.Get("X-InfraAudit-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("infraaudit: X-InfraAudit-Signature %q, want %q", got, want)
		}
	case "frugally":
		body := filepath.Join(t.TempDir(), "body")
		if err := os.WriteFile(body, req.Body, 0o600); err != nil {
			t.Fatal(err)
		}
		script := filepath.Join("..", "..", "wire", "testdata", "frugally_verify.py")
		cmd := exec.Command(python, script, body, secret, req.Header.Get("X-Frugally-Signature"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("frugally: the seed's verify_signature rejected the delivery: %v %s", err, out)
		}
	case "standard":
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(req.Body, req.Header); err != nil {
			t.Errorf("standard: the Standard Webhooks library rejected the delivery: %v", err)
		}
	}
}

// assertNoPlaintext fails if any of secrets appears in any file under dir.
func assertNoPlaintext(t *testing.T, dir string, secrets []string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			raw, _ := base64.StdEncoding.DecodeString(s) // not every secret is base64
			if strings.Contains(string(data), s) || (len(raw) >= 16 && strings.Contains(string(data), string(raw))) {
				t.Errorf("%s holds a secret in plaintext (%.12s…)", path, s)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scan %s: %v (%d files)", dir, err, files)
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
