package wire_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/webhook"
	"github.com/heraldhq/herald/wire"
)

const (
	newSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	oldSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

var (
	// signedAt is when the attempts in these tests are built; the grace of a rotation
	// runs until graceEnds.
	signedAt  = time.Date(2024, 1, 15, 14, 31, 7, 0, time.UTC)
	graceEnds = signedAt.Add(time.Hour)
)

// costAnomaly is the seed's InfraAudit cost.anomaly example: its amounts must go out as
// published (452.30, not 452.3). The timestamp has a zone and a fraction to drop.
func costAnomaly() *herald.Event {
	return &herald.Event{
		ID:        "evt_01JD0000000000000000000001",
		TenantID:  "team_xyz",
		Type:      "cost.anomaly",
		Data:      json.RawMessage(`{"anomaly_id":2,"provider_id":1,"date":"2024-01-14","actual_amount":452.30,"expected_amount":290.00,"deviation_percent":56.0,"currency":"USD"}`),
		Timestamp: time.Date(2024, 1, 15, 15, 30, 0, 987654321, time.FixedZone("CET", 3600)),
	}
}

func newWebhook(f herald.Format) *herald.Webhook {
	return &herald.Webhook{ID: "wh_abc123", TenantID: "team_xyz", Format: f, Secret: newSecret}
}

// rotating returns a webhook in the grace period of a rotation from oldSecret to newSecret.
func rotating(f herald.Format) *herald.Webhook {
	wh := newWebhook(f)
	wh.PreviousSecret = oldSecret
	wh.PreviousSecretExpiresAt = graceEnds
	return wh
}

func build(t *testing.T, ev *herald.Event, wh *herald.Webhook, now time.Time) *wire.Request {
	t.Helper()
	req, err := wire.Build(ev, wh, "del_xyz789", now)
	if err != nil {
		t.Fatalf("Build(%s): %v", wh.Format, err)
	}
	return req
}

func TestBuildEnvelope(t *testing.T) {
	t.Parallel()
	const data = `{"anomaly_id":2,"provider_id":1,"date":"2024-01-14","actual_amount":452.30,"expected_amount":290.00,"deviation_percent":56.0,"currency":"USD"}`
	tests := []struct {
		format herald.Format
		want   string
	}{
		{herald.FormatInfraAudit, `{"event":"cost.anomaly","timestamp":"2024-01-15T14:30:00Z","webhook_id":"wh_abc123","delivery_id":"del_xyz789","data":` + data + `}`},
		{herald.FormatFrugally, `{"id":"evt_01JD0000000000000000000001","type":"cost.anomaly","timestamp":"2024-01-15T14:30:00Z","team_id":"team_xyz","data":` + data + `}`},
		{herald.FormatStandard, `{"type":"cost.anomaly","timestamp":"2024-01-15T14:30:00Z","data":` + data + `}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			t.Parallel()
			req := build(t, costAnomaly(), newWebhook(tt.format), signedAt)
			if got := string(req.Body); got != tt.want {
				t.Errorf("body:\n got %s\nwant %s", got, tt.want)
			}
			if got := req.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := req.Header.Get("User-Agent"); got != "" {
				t.Errorf("User-Agent = %q, want none (the dispatcher sets it)", got)
			}
		})
	}
}

// TestBuildDataVerbatim checks data goes out byte for byte, even what encoding/json would
// change: whitespace, HTML characters, exponents, escapes.
func TestBuildDataVerbatim(t *testing.T) {
	t.Parallel()
	datas := []string{
		`{"actual_amount": 452.30, "n": 1E+2}`,
		`{"msg":"<b>a & b</b>","u":"\u00e9\/"}`,
		`[1, 2.50]`,
		`"just a string"`,
		`null`,
	}
	for _, f := range herald.Formats {
		for _, data := range datas {
			ev := costAnomaly()
			ev.Data = json.RawMessage(data)
			req := build(t, ev, newWebhook(f), signedAt)
			var env struct{ Data json.RawMessage }
			if err := json.Unmarshal(req.Body, &env); err != nil {
				t.Fatalf("%s: body is not JSON: %v\n%s", f, err, req.Body)
			}
			if string(env.Data) != data {
				t.Errorf("%s: data = %s, want %s", f, env.Data, data)
			}
		}
	}
}

func TestBuildCustomHeaders(t *testing.T) {
	t.Parallel()
	for _, f := range herald.Formats {
		wh := newWebhook(f)
		wh.Headers = map[string]string{
			"X-Team":                 "platform",
			"Authorization":          "Bearer abc",
			"content-type":           "text/plain",
			"Content-Length":         "1",
			"Host":                   "evil.example",
			"User-Agent":             "curl",
			"X-InfraAudit-Signature": "sha256=forged",
			"x-frugally-signature":   "sha256=forged",
			"Webhook-Signature":      "v1,forged",
			"webhook-id":             "msg_forged",
			"webhook-timestamp":      "1",
		}
		req := build(t, costAnomaly(), wh, signedAt)
		for name, want := range map[string]string{
			"X-Team":        "platform",
			"Authorization": "Bearer abc",
			"Content-Type":  "application/json",
		} {
			if got := req.Header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s = %q, want [%q]", f, name, got, want)
			}
		}
		for _, name := range []string{"Content-Length", "Host", "User-Agent"} {
			if got := req.Header.Values(name); len(got) != 0 {
				t.Errorf("%s: reserved %s was set to %q", f, name, got)
			}
		}
		for name, values := range req.Header {
			for _, v := range values {
				if v == "sha256=forged" || v == "v1,forged" || v == "msg_forged" || (name == "Webhook-Timestamp" && v == "1") {
					t.Errorf("%s: custom header overrode %s: %q", f, name, v)
				}
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	badData := costAnomaly()
	badData.Data = json.RawMessage(`{"a":`)
	noSecret := newWebhook(herald.FormatInfraAudit)
	noSecret.Secret = ""
	badStandard := newWebhook(herald.FormatStandard)
	badStandard.Secret = "whsec_not base64!"
	badPrevious := rotating(herald.FormatStandard)
	badPrevious.PreviousSecret = "whsec_???"
	unknown := newWebhook("svix")
	badHeaderName := newWebhook(herald.FormatFrugally)
	badHeaderName.Headers = map[string]string{"X Bad": "1"}
	badHeaderValue := newWebhook(herald.FormatFrugally)
	badHeaderValue.Headers = map[string]string{"X-Split": "a\r\nX-Injected: 1"}
	tests := []struct {
		name string
		ev   *herald.Event
		wh   *herald.Webhook
	}{
		{"data not JSON", badData, newWebhook(herald.FormatStandard)},
		{"no secret", costAnomaly(), noSecret},
		{"standard secret not base64", costAnomaly(), badStandard},
		{"previous standard secret not base64", costAnomaly(), badPrevious},
		{"unknown format", costAnomaly(), unknown},
		{"header name not a token", costAnomaly(), badHeaderName},
		{"header value with CRLF", costAnomaly(), badHeaderValue},
	}
	if _, err := wire.Build(nil, newWebhook(herald.FormatStandard), "del_1", signedAt); err == nil {
		t.Error("Build(nil event) succeeded")
	}
	if _, err := wire.Build(costAnomaly(), nil, "del_1", signedAt); err == nil {
		t.Error("Build(nil webhook) succeeded")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := wire.Build(tt.ev, tt.wh, "del_1", signedAt)
			if err == nil {
				t.Fatalf("Build succeeded with %s, want an error", req.Body)
			}
			if code := herald.ErrorCode(err); code != herald.EINVALID {
				t.Errorf("error code = %s, want %s (%v)", code, herald.EINVALID, err)
			}
		})
	}
}

// hexHMAC is the InfraAudit algorithm written out independently of wire.
func hexHMAC(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestInfraAuditSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		wh         *herald.Webhook
		now        time.Time
		main, next string // the secret expected to sign each header; "" for absent
	}{
		{"no rotation", newWebhook(herald.FormatInfraAudit), signedAt, newSecret, ""},
		{"in grace", rotating(herald.FormatInfraAudit), signedAt, oldSecret, newSecret},
		{"grace ends", rotating(herald.FormatInfraAudit), graceEnds, newSecret, ""},
		{"after grace", rotating(herald.FormatInfraAudit), graceEnds.Add(time.Second), newSecret, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := build(t, costAnomaly(), tt.wh, tt.now)
			if got, want := req.Header.Get("X-InfraAudit-Signature"), hexHMAC(tt.main, req.Body); got != want {
				t.Errorf("X-InfraAudit-Signature = %q, want %q (HMAC with %s)", got, want, tt.main)
			}
			got := req.Header.Get("X-InfraAudit-Signature-Next")
			switch {
			case tt.next == "" && got != "":
				t.Errorf("X-InfraAudit-Signature-Next = %q outside a grace period, want none", got)
			case tt.next != "" && got != hexHMAC(tt.next, req.Body):
				t.Errorf("X-InfraAudit-Signature-Next = %q, want HMAC with the new secret %q", got, hexHMAC(tt.next, req.Body))
			}
			for _, name := range []string{"X-Frugally-Signature", "Webhook-Signature", "Webhook-Id"} {
				if v := req.Header.Get(name); v != "" {
					t.Errorf("infraaudit request has %s: %q", name, v)
				}
			}
		})
	}
}

// frugallyVerify runs the Frugally seed's verify_signature on body, secret and header and
// reports what it returned.
func frugallyVerify(t *testing.T, python string, body []byte, secret, header string) bool {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, filepath.Join("testdata", "frugally_verify.py"), file, secret, header).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1 && len(out) == 0:
		return false
	}
	t.Fatalf("frugally_verify.py failed: %v\n%s", err, out)
	return false
}

func TestFrugallySignatureWithSeedSnippet(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: cannot run the Frugally seed's verify_signature snippet")
	}
	// Resolve version-manager shims (pyenv) once: each run through a shim costs ~0.5 s.
	if out, err := exec.Command(python, "-c", "import sys; print(sys.executable)").Output(); err == nil {
		if exe := strings.TrimSpace(string(out)); exe != "" {
			python = exe
		}
	}
	plain := build(t, costAnomaly(), newWebhook(herald.FormatFrugally), signedAt)
	rotated := build(t, costAnomaly(), rotating(herald.FormatFrugally), signedAt)
	after := build(t, costAnomaly(), rotating(herald.FormatFrugally), graceEnds)
	tampered := bytes.Replace(plain.Body, []byte("452.30"), []byte("152.30"), 1)
	if bytes.Equal(tampered, plain.Body) {
		t.Fatal("tampering left the body unchanged")
	}

	tests := []struct {
		name   string
		body   []byte
		secret string
		header string
		want   bool
	}{
		{"signed with the secret", plain.Body, newSecret, plain.Header.Get("X-Frugally-Signature"), true},
		{"another secret", plain.Body, oldSecret, plain.Header.Get("X-Frugally-Signature"), false},
		{"tampered body", tampered, newSecret, plain.Header.Get("X-Frugally-Signature"), false},
		{"in grace: main header with the old secret", rotated.Body, oldSecret, rotated.Header.Get("X-Frugally-Signature"), true},
		{"in grace: main header not with the new secret", rotated.Body, newSecret, rotated.Header.Get("X-Frugally-Signature"), false},
		{"in grace: -Next with the new secret", rotated.Body, newSecret, rotated.Header.Get("X-Frugally-Signature-Next"), true},
		{"after grace: main header with the new secret", after.Body, newSecret, after.Header.Get("X-Frugally-Signature"), true},
		{"after grace: not with the old secret", after.Body, oldSecret, after.Header.Get("X-Frugally-Signature"), false},
	}
	for _, tt := range tests {
		if got := frugallyVerify(t, python, tt.body, tt.secret, tt.header); got != tt.want {
			t.Errorf("%s: verify_signature(body, %q, %q) = %v, want %v", tt.name, tt.header, tt.secret, got, tt.want)
		}
	}
	if v := after.Header.Get("X-Frugally-Signature-Next"); v != "" {
		t.Errorf("X-Frugally-Signature-Next = %q after the grace, want none", v)
	}
}

func TestStandardSignatureWithOfficialLibrary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wh       *herald.Webhook
		now      time.Time
		verifies map[string]bool // secret → whether the library accepts the request with it
	}{
		{"no rotation", newWebhook(herald.FormatStandard), signedAt,
			map[string]bool{newSecret: true, oldSecret: false}},
		{"in grace", rotating(herald.FormatStandard), signedAt,
			map[string]bool{newSecret: true, oldSecret: true, "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA": false}},
		{"after grace", rotating(herald.FormatStandard), graceEnds,
			map[string]bool{newSecret: true, oldSecret: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := costAnomaly()
			req := build(t, ev, tt.wh, tt.now)
			if got := req.Header.Get("webhook-id"); got != ev.ID {
				t.Errorf("webhook-id = %q, want the event id %q", got, ev.ID)
			}
			if got, want := req.Header.Get("webhook-timestamp"), strconv.FormatInt(tt.now.Unix(), 10); got != want {
				t.Errorf("webhook-timestamp = %q, want %q", got, want)
			}
			for secret, want := range tt.verifies {
				lib, err := standardwebhooks.NewWebhook(secret)
				if err != nil {
					t.Fatal(err)
				}
				// The attempt was signed in 2024: the library's 5-minute tolerance is
				// tested separately below.
				err = lib.VerifyIgnoringTimestamp(req.Body, req.Header)
				if (err == nil) != want {
					t.Errorf("verify with %s: err = %v, want success %v (webhook-signature %q)",
						secret, err, want, req.Header.Get("webhook-signature"))
				}
			}
		})
	}

	t.Run("signed now, with tolerance", func(t *testing.T) {
		t.Parallel()
		req := build(t, costAnomaly(), newWebhook(herald.FormatStandard), time.Now())
		lib, err := standardwebhooks.NewWebhook(newSecret)
		if err != nil {
			t.Fatal(err)
		}
		if err := lib.Verify(req.Body, req.Header); err != nil {
			t.Errorf("Verify: %v", err)
		}
		req.Body = append(req.Body[:len(req.Body)-1:len(req.Body)-1], ' ', '}')
		if err := lib.Verify(req.Body, req.Header); err == nil {
			t.Error("Verify accepted a tampered body")
		}
	})
}

func TestStandardRotationOrder(t *testing.T) {
	t.Parallel()
	ev := costAnomaly()
	req := build(t, ev, rotating(herald.FormatStandard), signedAt)
	newSig, _ := webhook.SignStandard(newSecret, ev.ID, signedAt.Unix(), req.Body)
	oldSig, _ := webhook.SignStandard(oldSecret, ev.ID, signedAt.Unix(), req.Body)
	want := newSig + " " + oldSig
	if got := req.Header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature = %q, want new then previous: %q", got, want)
	}
}

// TestBuildSignsKnownVectors builds the Standard Webhooks test vectors' requests: an
// HMAC secret signs v1, an ed25519 private key v1a.
func TestBuildSignsKnownVectors(t *testing.T) {
	t.Parallel()
	const body = `{"test": 2432232314}`
	at := time.Unix(1614265330, 0).UTC()
	ev := &herald.Event{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Type: "test", Data: json.RawMessage(body), Timestamp: at}
	for _, tc := range []struct{ secret, want string }{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		{"whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
			"v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="},
	} {
		wh := &herald.Webhook{ID: "wh_1", Format: herald.FormatStandard, Secret: tc.secret}
		req, err := wire.Build(ev, wh, "del_1", at)
		if err != nil {
			t.Fatalf("Build with %.8s…: %v", tc.secret, err)
		}
		// The vectors sign the body alone; Build signs the envelope around it.
		envelope := fmt.Sprintf(`{"type":"test","timestamp":"2021-02-25T15:02:10Z","data":%s}`, body)
		if string(req.Body) != envelope {
			t.Fatalf("body = %s, want %s", req.Body, envelope)
		}
		want, err := webhook.SignStandard(tc.secret, ev.ID, at.Unix(), req.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("webhook-signature"); got != want {
			t.Errorf("webhook-signature = %q, want %q", got, want)
		}
		if got := req.Header.Get("Content-Digest"); got != webhook.ContentDigest(req.Body) {
			t.Errorf("Content-Digest = %q, want the body's", got)
		}
		vector, _ := webhook.SignStandard(tc.secret, ev.ID, at.Unix(), []byte(body))
		if vector != tc.want {
			t.Errorf("the vector signs to %q, want %q", vector, tc.want)
		}
	}
}

func TestSignatureHeaders(t *testing.T) {
	t.Parallel()
	for _, f := range herald.Formats {
		names := wire.SignatureHeaders(f)
		if len(names) == 0 {
			t.Errorf("SignatureHeaders(%s) is empty", f)
		}
		req := build(t, costAnomaly(), rotating(f), signedAt)
		for _, name := range names {
			if req.Header.Get(name) == "" {
				t.Errorf("%s: signature header %s missing from a request in a rotation's grace", f, name)
			}
			if !wire.ReservedHeader(name) {
				t.Errorf("%s: signature header %s is not reserved", f, name)
			}
		}
	}
	if names := wire.SignatureHeaders("svix"); names != nil {
		t.Errorf("SignatureHeaders(unknown) = %q, want nil", names)
	}
}

func TestReservedHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"Content-Type", true},
		{"content-length", true},
		{"HOST", true},
		{"User-Agent", true},
		{"Transfer-Encoding", true},
		{"X-InfraAudit-Signature", true},
		{"x-infraaudit-signature-next", true},
		{"X-Frugally-Signature", true},
		{"X-FRUGALLY-SIGNATURE-NEXT", true},
		{"webhook-id", true},
		{"Webhook-Timestamp", true},
		{"webhook-signature", true},
		{"Webhook-Anything", true},
		{"Authorization", false},
		{"X-Team", false},
		{"X-Webhook-Source", false},
		{"X-Signature", false},
	}
	for _, tt := range tests {
		if got := wire.ReservedHeader(tt.name); got != tt.want {
			t.Errorf("ReservedHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidateHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers map[string]string
		ok      bool
	}{
		{nil, true},
		{map[string]string{"Authorization": "Bearer x", "X-Tab": "a\tb", "X-Empty": ""}, true},
		{map[string]string{"Content-Type": "text/plain"}, false},
		{map[string]string{"webhook-id": "x"}, false},
		{map[string]string{"X-Frugally-Signature-Next": "x"}, false},
		{map[string]string{"": "x"}, false},
		{map[string]string{"X Space": "x"}, false},
		{map[string]string{"X-Colon:": "x"}, false},
		{map[string]string{"X-A": "a\nb"}, false},
		{map[string]string{"X-A": "a\x00b"}, false},
	}
	for _, tt := range tests {
		err := wire.ValidateHeaders(tt.headers)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateHeaders(%q) = %v, want ok %v", tt.headers, err, tt.ok)
		}
		if err != nil && herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("ValidateHeaders(%q) code = %s, want %s", tt.headers, herald.ErrorCode(err), herald.EINVALID)
		}
	}
}
