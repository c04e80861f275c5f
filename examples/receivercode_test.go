package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	heraldpkg "github.com/heraldhq/herald"
	"github.com/heraldhq/herald/receivercode"
)

// TestReceiverCode runs the receivers the portal's "How to verify" shows, as
// receivercode renders them (the very text the portal shows), in every language and
// format, against a real Herald: with the secret the API reveals, each must verify a
// test of a subscribed type's sample and a ping, accept a request signed only with a
// rotation's new secret, and refuse one signed with a secret it was not given.
func TestReceiverCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Herald and runs the rendered Python, Node.js and Go receivers")
	}
	python := lookPath(t, "python3")
	node := lookPath(t, "node")

	bin := t.TempDir()
	heraldBin := filepath.Join(bin, "herald")
	goBuild(t, map[string]string{heraldBin: "github.com/heraldhq/herald/cmd/herald"})
	srv := startHerald(t, heraldBin)
	sample := driftSample(t, srv)

	// The rendered code, written out: Python and Node.js run the file; the Go code is
	// built inside this module through an overlay (it imports the module's webhook
	// package), without writing into the source tree.
	type rendered struct {
		webhook receivercode.Webhook
		lang    receivercode.Language
		argv    []string
	}
	var all []rendered
	goOutputs := map[string]string{} // by variant
	webhooks := []receivercode.Webhook{{Format: heraldpkg.FormatStandard, Signing: heraldpkg.SigningEd25519}}
	for _, format := range formats {
		webhooks = append(webhooks, receivercode.Webhook{Format: heraldpkg.Format(format)})
	}
	for _, w := range webhooks {
		g, err := receivercode.Render(w)
		if err != nil {
			t.Fatalf("render %+v: %v", w, err)
		}
		variant := variantOf(w)
		for _, r := range g.Receivers {
			file := filepath.Join(bin, variant, r.File)
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(r.Code), 0o644); err != nil {
				t.Fatal(err)
			}
			switch r.Language {
			case receivercode.Python:
				all = append(all, rendered{w, r.Language, []string{python, file}})
			case receivercode.Node:
				all = append(all, rendered{w, r.Language, []string{node, file}})
			case receivercode.Go:
				goOutputs[variant] = file
				all = append(all, rendered{w, r.Language, []string{filepath.Join(bin, "receiver-go-"+variant)}})
			default:
				t.Fatalf("no way to run %s", r.Language)
			}
		}
	}
	buildOverlaid(t, bin, goOutputs)

	if len(all) != 3*len(formats)+1 {
		t.Fatalf("%d receivers rendered, want one per language and format and the ed25519 one", len(all))
	}
	for _, rc := range all {
		t.Run(string(rc.lang)+"/"+variantOf(rc.webhook), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
			defer cancel()
			testReceiverCode(ctx, t, srv, string(rc.lang), rc.argv, rc.webhook, sample)
		})
	}
}

// variantOf names a webhook's format and signing: the format, or standard-ed25519.
func variantOf(w receivercode.Webhook) string {
	if w.Signing == heraldpkg.SigningEd25519 {
		return string(w.Format) + "-ed25519"
	}
	return string(w.Format)
}

// buildOverlaid builds each variant's Go receiver, saved at sources[variant], as a
// package of this module (under examples/_receivercode, which exists only in the
// overlay) into bin/receiver-go-<variant>.
func buildOverlaid(t *testing.T, bin string, sources map[string]string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	replace := map[string]string{}
	for variant, src := range sources {
		replace[filepath.Join(wd, "_receivercode", variant, "main.go")] = src
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(bin, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	for variant := range sources {
		out := filepath.Join(bin, "receiver-go-"+variant)
		cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayFile, "-o", out, "./_receivercode/"+variant)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build the rendered Go receiver of %s: %v\n%s", variant, err, b)
		}
	}
}

// testReceiverCode runs one rendered receiver for webhooks like w through the scenario.
func testReceiverCode(ctx context.Context, t *testing.T, srv *herald, lang string, argv []string, w receivercode.Webhook, sample json.RawMessage) {
	format, ed25519 := string(w.Format), w.Signing == heraldpkg.SigningEd25519
	tenant := "code-" + lang + "-" + variantOf(w)
	if code, msg := srv.api(ctx, t, "POST", "/api/v1/tenants", map[string]any{"id": tenant, "name": tenant}, nil); code != 201 {
		t.Fatalf("create tenant %s: %d %s, want 201", tenant, code, msg)
	}
	// Disabled, so that no ping is sent before the receiver runs; Herald makes the
	// secret, and the receiver is given the one the API reveals.
	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	create := map[string]any{
		"name": tenant, "url": "http://127.0.0.1:9/not-yet", "events": []string{"drift.detected"},
		"format": format, "tenant_id": tenant, "enabled": false,
	}
	if ed25519 {
		create["signing"] = heraldpkg.SigningEd25519
	}
	code, msg := srv.api(ctx, t, "POST", "/api/v1/webhooks", create, &wh)
	if code != 201 {
		t.Fatalf("create webhook: %d %s, want 201", code, msg)
	}
	var revealed struct {
		Secret    string `json:"secret"`
		PublicKey string `json:"public_key"`
	}
	if code, msg := srv.api(ctx, t, "POST", "/api/v1/webhooks/"+wh.ID+"/reveal-secret", nil, &revealed); code != 200 {
		t.Fatalf("reveal-secret: %d %s, want 200", code, msg)
	}
	material := revealed.Secret // what the portal tells the customer to put in WEBHOOK_SECRET
	if ed25519 {
		material = revealed.PublicKey
	}
	if material == "" || (!ed25519 && material != wh.Secret) {
		t.Fatalf("reveal-secret answered %+v, want the webhook's secret %q or its public key", revealed, wh.Secret)
	}

	rc := startReceiverEnv(ctx, t, argv, []string{"WEBHOOK_SECRET=" + material, "PORT=0"})
	url := fmt.Sprintf("http://127.0.0.1:%d/webhooks/herald", rc.port)
	if code, msg := srv.api(ctx, t, "PATCH", "/api/v1/webhooks/"+wh.ID, map[string]any{"url": url}, nil); code != 200 {
		t.Fatalf("point the webhook at the receiver: %d %s", code, msg)
	}

	for _, eventType := range []string{"drift.detected", "ping"} {
		mark := rc.mark()
		var res struct {
			DeliveryID string `json:"delivery_id"`
			Success    bool   `json:"success"`
			StatusCode int    `json:"status_code"`
			Error      string `json:"error"`
		}
		code, msg := srv.api(ctx, t, "POST", "/api/v1/webhooks/"+wh.ID+"/test", map[string]any{"event_type": eventType}, &res)
		if code != 200 || !res.Success || res.StatusCode != 200 {
			t.Fatalf("test %s: %d %s, answered %d %q; want the receiver's 200", eventType, code, msg, res.StatusCode, res.Error)
		}
		var d struct {
			EventID string `json:"event_id"`
		}
		if code, msg := srv.api(ctx, t, "GET", "/api/v1/deliveries/"+res.DeliveryID, nil, &d); code != 200 {
			t.Fatalf("get delivery %s: %d %s", res.DeliveryID, code, msg)
		}
		key := d.EventID
		if format == "infraaudit" {
			key = res.DeliveryID
		}
		rc.answered(ctx, t, mark, "the "+eventType+" test verified", "verified type="+eventType+" key="+key)
	}

	// Straight to the receiver: a secret it was not given is refused; the webhook's
	// secret alone in the rotation's place (-Next, or a second entry) is accepted.
	direct := []directRequest{{
		name: "signed with a secret the receiver does not have", secret: newSecret(t),
		status: 401, line: "rejected status=401",
	}}
	if !ed25519 {
		direct = append(direct, directRequest{
			name: "signed with the receiver's secret only as a rotation's new one", secret: newSecret(t), next: revealed.Secret,
			status: 200, line: "verified type=drift.detected key={key}",
		})
	}
	for i, d := range direct {
		id := fmt.Sprintf("evt_code_%d_%d", i, time.Now().UnixNano())
		body := envelope(format, id, sample)
		mark := rc.mark()
		if status := post(ctx, t, rc.port, sign(format, d.secret, d.next, id, body, time.Now()), body); status != d.status {
			t.Fatalf("%s: receiver answered %d, want %d", d.name, status, d.status)
		}
		rc.answered(ctx, t, mark, d.name, strings.ReplaceAll(d.line, "{key}", id))
	}

	// A body larger than Herald ever sends is refused unread. A receiver may answer
	// before the body is sent and close the connection (Python does), so the sender
	// can see its write fail rather than the 413: the line says what was answered.
	id := fmt.Sprintf("evt_code_large_%d", time.Now().UnixNano())
	body := envelope(format, id, json.RawMessage(`"`+strings.Repeat("x", 3<<20)+`"`))
	mark := rc.mark()
	req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://127.0.0.1:%d/webhooks/herald", rc.port), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = sign(format, newSecret(t), "", id, body, time.Now())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 3 MiB body: receiver answered %d, want 413", resp.StatusCode)
		}
	} else if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a 3 MiB body: %v", err)
	}
	rc.answered(ctx, t, mark, "a 3 MiB body refused", "rejected status=413")
}
