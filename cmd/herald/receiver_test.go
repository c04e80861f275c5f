package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The Standard Webhooks test vectors.
const (
	vectorSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorPrivateKey = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	vectorPublicKey  = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	vectorID         = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp  = "1614265330"
	vectorBody       = `{"test": 2432232314}`
)

// signed runs herald sign on body and returns its output lines.
func signed(t *testing.T, body string, args ...string) []string {
	t.Helper()
	var out, errs strings.Builder
	if err := sign(args, strings.NewReader(body), &out, &errs); err != nil {
		t.Fatalf("herald sign %s: %v (%s)", strings.Join(args, " "), err, errs.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

func TestSignGivesTestVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ secret, want string }{
		{vectorSecret, "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		{vectorPrivateKey, "webhook-signature: v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="},
	} {
		lines := signed(t, vectorBody, "--format", "standard", "--secret", tc.secret, "--id", vectorID, "--timestamp", vectorTimestamp)
		want := []string{"webhook-id: " + vectorID, "webhook-timestamp: " + vectorTimestamp, tc.want}
		if len(lines) != 4 || strings.Join(lines[:3], "\n") != strings.Join(want, "\n") || !strings.HasPrefix(lines[3], "Content-Digest: sha-256=:") {
			t.Errorf("herald sign printed\n%s\nwant\n%s\nand Content-Digest", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		// What sign prints, verify accepts: the ed25519 one with the public key.
		key := tc.secret
		if strings.HasPrefix(key, "whsk_") {
			key = vectorPublicKey
		}
		args := []string{"--format", "standard", "--secret", key, "--tolerance", "0"}
		for _, l := range lines {
			args = append(args, "--header", l)
		}
		var out strings.Builder
		if err := verify(args, strings.NewReader(vectorBody), &out, io.Discard); err != nil || out.String() != "valid\n" {
			t.Errorf("herald verify of what sign printed: %q, %v", out.String(), err)
		}
	}
}

// TestVerifySaysWhy runs herald verify on requests that are wrong in each way it knows,
// and checks it fails saying that, and only that.
func TestVerifySaysWhy(t *testing.T) {
	t.Parallel()
	const body = `{"event":"drift.detected","timestamp":"2024-01-15T10:00:00Z","webhook_id":"wh_1","delivery_id":"del_1","data":{"drift_id":55}}`
	now := fmt.Sprint(time.Now().Unix())
	std := signed(t, body, "--format", "standard", "--secret", vectorSecret, "--id", "evt_1", "--timestamp", now)
	old := signed(t, body, "--format", "standard", "--secret", vectorSecret, "--id", "evt_1", "--timestamp", fmt.Sprint(time.Now().Add(-time.Hour).Unix()))
	infra := signed(t, body, "--format", "infraaudit", "--secret", vectorSecret)
	tests := []struct {
		name    string
		format  string
		secret  string
		headers []string
		body    string
		want    error
		says    string
	}{
		{"valid", "standard", vectorSecret, std, body, nil, ""},
		{"valid infraaudit", "infraaudit", vectorSecret, infra, body, nil, ""},
		{"no signature header", "standard", vectorSecret, std[:2], body, webhook.ErrNoSignature, "webhook-signature"},
		{"wrong secret", "standard", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", std, body, webhook.ErrWrongSecret, "secret"},
		{"body changed", "standard", vectorSecret, std, strings.Replace(body, "55", "56", 1), webhook.ErrBodyChanged, "body"},
		{"body changed, infraaudit", "infraaudit", vectorSecret, infra, body + "\n", webhook.ErrBodyChanged, "body"},
		{"timestamp outside tolerance", "standard", vectorSecret, old, body, webhook.ErrTimestampOutOfTolerance, "timestamp"},
		{"wrong format", "standard", vectorSecret, infra, body, webhook.ErrWrongFormat, "infraaudit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--format", tt.format, "--secret", tt.secret}
			for _, h := range tt.headers {
				args = append(args, "--header", h)
			}
			var out strings.Builder
			err := verify(args, strings.NewReader(tt.body), &out, io.Discard)
			if tt.want == nil {
				if err != nil || out.String() != "valid\n" {
					t.Fatalf("verify: %q, %v; want valid", out.String(), err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("verify: %v; want %v", err, tt.want)
			}
			for _, other := range []error{webhook.ErrNoSignature, webhook.ErrWrongSecret, webhook.ErrBodyChanged,
				webhook.ErrTimestampOutOfTolerance, webhook.ErrWrongFormat} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("verify: %v is also %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.says) || out.Len() != 0 {
				t.Errorf("verify printed %q and said %q; want it to name %q", out.String(), err, tt.says)
			}
		})
	}
}

// TestListenShowsTriggeredDelivery runs herald listen as a webhook's endpoint and
// herald trigger against a real server: the delivery arrives, verified, and is printed.
func TestListenShowsTriggeredDelivery(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- listen(ctx, []string{"--addr", "127.0.0.1:0", "--format", "standard", "--secret", vectorSecret}, out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen: %v", err)
		}
	})
	url := waitForMatch(t, out, "herald listen")

	var hook webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "listen", "url": url, "events": []string{"drift.detected"}, "secret": vectorSecret,
	}, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	env := func(k string) string {
		return map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": testAdminKey}[k]
	}
	var trig strings.Builder
	if err := run(context.Background(), []string{"trigger", "drift.detected"}, &trig, io.Discard, env); err != nil {
		t.Fatalf("herald trigger: %v", err)
	}
	if !waitUntil(10*time.Second, func() bool { return strings.Contains(out.String(), "drift.detected") }) {
		t.Fatalf("no drift.detected delivery printed in 10s:\n%s", out)
	}
	var delivery string // the block listen printed for it; the webhook's ping has another
	for _, block := range strings.Split(out.String(), "── ") {
		if first, _, _ := strings.Cut(block, "\n"); strings.HasSuffix(first, "drift.detected") {
			delivery = block
		}
	}
	for _, want := range []string{"drift.detected", "signature  valid", `"drift_id"`, "answered   200"} {
		if !strings.Contains(delivery, want) {
			t.Errorf("herald listen printed\n%s\nwithout %q", delivery, want)
		}
	}
}

// waitForMatch waits for a "listening on URL" line in out and returns the URL.
func waitForMatch(t *testing.T, out *syncBuffer, what string) string {
	t.Helper()
	var url string
	if !waitUntil(10*time.Second, func() bool {
		m := listening.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}) {
		t.Fatalf("%s does not listen after 10s:\n%s", what, out)
	}
	return url
}

// TestEd25519DeliveryVerifiesWithPublicKey registers an ed25519 webhook on a real
// server: its deliveries are signed v1a and verify with the public key the API gave,
// also after a rotation, when both key pairs sign during the grace.
func TestEd25519DeliveryVerifiesWithPublicKey(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	rc := newReceiver(t)
	var hook struct {
		ID        string `json:"id"`
		PublicKey string `json:"public_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "ed", "url": rc.URL, "signing": "ed25519",
	}, &hook); code != 201 {
		t.Fatalf("create ed25519 webhook: %d", code)
	}
	check := func(req delivered, keys ...string) {
		t.Helper()
		if sig := req.Header.Get("webhook-signature"); !strings.HasPrefix(sig, "v1a,") {
			t.Errorf("webhook-signature %q, want v1a entries", sig)
		}
		v, err := webhook.NewVerifier(webhook.FormatStandard, keys...)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(req.Header, req.Body); err != nil {
			t.Errorf("verify with the public key: %v", err)
		}
	}
	check(rc.waitFor(t, 1, 10*time.Second)[0], hook.PublicKey)

	var rotated struct {
		PublicKey string `json:"public_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks/"+hook.ID+"/rotate-secret", testAdminKey, map[string]any{}, &rotated); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks/"+hook.ID+"/test", testAdminKey, nil, nil); code != 200 {
		t.Fatalf("test: %d", code)
	}
	req := rc.waitFor(t, 2, 10*time.Second)[1]
	check(req, rotated.PublicKey) // the new key alone verifies
	check(req, hook.PublicKey)    // and so does the old one, during the grace
}

// TestListenForwards runs herald listen with --forward-to: the delivery reaches the
// target with its signature headers, and the target's answer, decoded, is the answer.
func TestListenForwards(t *testing.T) {
	t.Parallel()
	var got http.Header
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write([]byte("handled"))
			zw.Close()
			return
		}
		w.Write([]byte("handled"))
	}))
	t.Cleanup(target.Close)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- listen(ctx, []string{"--addr", "127.0.0.1:0", "--format", "standard", "--secret", vectorSecret,
			"--forward-to", target.URL}, out, io.Discard)
	}()
	t.Cleanup(func() { cancel(); <-done })
	url := waitForMatch(t, out, "herald listen")

	body := `{"type":"ping","timestamp":"2024-01-15T10:00:00Z","data":{}}`
	h, err := webhook.Sign(webhook.FormatStandard, vectorSecret, "evt_fwd", time.Now(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header = h
	req.Header.Set("Accept-Encoding", "gzip") // as Herald's transport sends it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != "handled" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("answer %d %q (Content-Encoding %q), want the target's 200 \"handled\" decoded",
			resp.StatusCode, answer, resp.Header.Get("Content-Encoding"))
	}
	if got.Get("webhook-signature") != h.Get("webhook-signature") || got.Get("webhook-id") != "evt_fwd" {
		t.Errorf("the target got headers %v, want the delivery's signature headers", got)
	}
	if !strings.Contains(out.String(), "forward") || !strings.Contains(out.String(), "signature  valid") {
		t.Errorf("listen printed\n%s\nwithout the verdict and the forward", out)
	}
}
