package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The Standard Webhooks specification's test vectors.
const (
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS      = 1614265330
	vectorBody    = `{"test": 2432232314}`
	vectorSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vectorPrivate = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	vectorPublic  = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	vectorSigV1a  = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)

// vectorTime is the vectors' webhook-timestamp.
var vectorTime = time.Unix(vectorTS, 0)

func TestSignStandardVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, secret, want string
	}{
		{"hmac", vectorSecret, vectorSig},
		{"hmac without prefix", strings.TrimPrefix(vectorSecret, "whsec_"), vectorSig},
		{"ed25519", vectorPrivate, vectorSigV1a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.SignStandard(tt.secret, vectorID, vectorTS, []byte(vectorBody))
			if err != nil {
				t.Fatalf("SignStandard: %v", err)
			}
			if got != tt.want {
				t.Errorf("SignStandard = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSignSHA256Snippet checks SignSHA256 against values computed with the seeds'
// Python snippet: hmac.new(secret.encode('utf-8'), body, hashlib.sha256).hexdigest().
func TestSignSHA256Snippet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{
			`{"event":"ping","timestamp":"2024-01-15T10:00:00Z","webhook_id":"wh_abc123","delivery_id":"del_abc008","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}`,
			"sha256=b38ba96dd82b3ae217378d611c35e1893d93c5c9d49df6bbf372d695f9f9c440",
		},
		{
			`{"id":"evt_001","type":"ping","timestamp":"2025-03-10T19:00:00Z","team_id":"team_xyz","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}`,
			"sha256=6461a9ace96f1a8f44ed1ac5d21ad9f9a887f79fcba815122c56af39198df6dd",
		},
	}
	for _, tt := range tests {
		if got := webhook.SignSHA256(vectorSecret, []byte(tt.body)); got != tt.want {
			t.Errorf("SignSHA256(%s) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestContentDigest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{`{"hello": "world"}`, "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"}, // RFC 9530 §B.1
		{"", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"},
	}
	for _, tt := range tests {
		if got := webhook.ContentDigest([]byte(tt.body)); got != tt.want {
			t.Errorf("ContentDigest(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	body := []byte(vectorBody)
	tests := []struct {
		format webhook.Format
		secret string
		want   map[string]string
	}{
		{webhook.FormatInfraAudit, vectorSecret, map[string]string{
			"X-InfraAudit-Signature": webhook.SignSHA256(vectorSecret, body),
			"Content-Digest":         webhook.ContentDigest(body),
		}},
		{webhook.FormatFrugally, vectorSecret, map[string]string{
			"X-Frugally-Signature": webhook.SignSHA256(vectorSecret, body),
			"Content-Digest":       webhook.ContentDigest(body),
		}},
		{webhook.FormatStandard, vectorSecret, map[string]string{
			"webhook-id":        vectorID,
			"webhook-timestamp": "1614265330",
			"webhook-signature": vectorSig,
			"Content-Digest":    webhook.ContentDigest(body),
		}},
		{webhook.FormatStandard, vectorPrivate, map[string]string{
			"webhook-id":        vectorID,
			"webhook-timestamp": "1614265330",
			"webhook-signature": vectorSigV1a,
			"Content-Digest":    webhook.ContentDigest(body),
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			t.Parallel()
			h, err := webhook.Sign(tt.format, tt.secret, vectorID, vectorTime, body)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			for name, want := range tt.want {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if len(h) != len(tt.want) {
				t.Errorf("Sign returned %d headers, want %d: %v", len(h), len(tt.want), h)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format webhook.Format
		secret string
		id     string
		want   error
	}{
		{"unknown format", "github", vectorSecret, vectorID, webhook.ErrUnknownFormat},
		{"short secret", webhook.FormatFrugally, "whsec_short", "", webhook.ErrInvalidSecret},
		{"secret with newline", webhook.FormatInfraAudit, vectorSecret + "\n", "", webhook.ErrInvalidSecret},
		{"ed25519 key for infraaudit", webhook.FormatInfraAudit, vectorPrivate, "", webhook.ErrInvalidSecret},
		{"standard secret not base64", webhook.FormatStandard, "whsec_not*base64", vectorID, webhook.ErrInvalidSecret},
		{"standard secret too short", webhook.FormatStandard, "whsec_c2hvcnQ=", vectorID, webhook.ErrInvalidSecret},
		{"public key cannot sign", webhook.FormatStandard, vectorPublic, vectorID, webhook.ErrInvalidSecret},
		{"private key of the wrong length", webhook.FormatStandard, vectorPrivate[:60], vectorID, webhook.ErrInvalidSecret},
		{"private key whose halves disagree", webhook.FormatStandard, "whsk_" + strings.Repeat("A", 86) + "==", vectorID, webhook.ErrInvalidSecret},
		{"standard without id", webhook.FormatStandard, vectorSecret, "", webhook.ErrMissingHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhook.Sign(tt.format, tt.secret, tt.id, vectorTime, []byte(vectorBody))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Sign error = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tt.secret)) {
				t.Errorf("the error %q shows the secret", err)
			}
		})
	}
}

func TestEd25519Keys(t *testing.T) {
	t.Parallel()
	pub, err := webhook.PublicKey(vectorPrivate)
	if err != nil || pub != vectorPublic {
		t.Errorf("PublicKey(vector) = %q, %v; want %q", pub, err, vectorPublic)
	}
	if _, err := webhook.PublicKey(vectorSecret); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("PublicKey(whsec_…) error = %v, want ErrInvalidSecret", err)
	}

	private, public, err := webhook.NewEd25519Key()
	if err != nil {
		t.Fatalf("NewEd25519Key: %v", err)
	}
	if !strings.HasPrefix(private, "whsk_") || !strings.HasPrefix(public, "whpk_") {
		t.Fatalf("NewEd25519Key = %q, %q; want whsk_… and whpk_…", private, public)
	}
	if got, err := webhook.PublicKey(private); err != nil || got != public {
		t.Errorf("PublicKey(new private key) = %q, %v; want %q", got, err, public)
	}
	h, err := webhook.Sign(webhook.FormatStandard, private, "msg_1", time.Now(), []byte(`{}`))
	if err != nil {
		t.Fatalf("Sign with a new key: %v", err)
	}
	v, err := webhook.NewVerifier(webhook.FormatStandard, public)
	if err != nil {
		t.Fatalf("NewVerifier(new public key): %v", err)
	}
	if err := v.Verify(h, []byte(`{}`)); err != nil {
		t.Errorf("Verify with the new key pair: %v", err)
	}
	other, _, err := webhook.NewEd25519Key()
	if err != nil {
		t.Fatalf("NewEd25519Key: %v", err)
	}
	if other == private {
		t.Error("NewEd25519Key returned the same key twice")
	}
}
