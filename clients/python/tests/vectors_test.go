// Package tests holds the Python client's shared verification vectors, and checks them
// against the Go receiver library, which is the reference: a vector that webhook/
// does not decide as it says fails here before any client trusts it.
//
// Regenerate vectors.json after a change to the cases below with
//
//	go test ./clients/python/tests -run TestVectors -update
package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

var update = flag.Bool("update", false, "rewrite vectors.json from the cases")

// vectorFile is the shape of vectors.json.
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

// vector is one request and how a verifier must decide it. Error is "" for a request
// that verifies, else the reason: no_signature, wrong_format, missing_header,
// timestamp_out_of_tolerance, signature_mismatch, wrong_secret, body_changed,
// invalid_secret or unknown_format.
type vector struct {
	Name      string            `json:"name"`
	Format    string            `json:"format"`
	Secrets   []string          `json:"secrets"`
	Body      string            `json:"body"`
	Headers   map[string]string `json:"headers"`
	Now       int64             `json:"now"`
	Tolerance int64             `json:"tolerance_seconds"`
	Error     string            `json:"error"`
}

// The Standard Webhooks specification's test vector, and an ed25519 key pair.
const (
	specSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID      = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS      = 1614265330
	specBody    = `{"test": 2432232314}`
	specSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	edPrivate   = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	edPublic    = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	edSig       = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
	otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tMDE="
	otherPublic = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	// The InfraAudit page's ping example, compact as Herald sends it.
	pingBody = `{"event":"ping","timestamp":"2024-01-15T10:00:00Z","webhook_id":"wh_abc123","delivery_id":"del_abc008","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}`
	shaOld   = "whsec_oldsecret_0123456789abcdef"
	shaNew   = "whsec_newsecret_fedcba9876543210"
)

// cases builds the vectors from the webhook package's signing functions.
func cases(t *testing.T) []vector {
	t.Helper()
	sign := func(secret, id string, ts int64, body string) string {
		sig, err := webhook.SignStandard(secret, id, ts, []byte(body))
		if err != nil {
			t.Fatalf("SignStandard: %v", err)
		}
		return sig
	}
	if got := sign(specSecret, specID, specTS, specBody); got != specSig {
		t.Fatalf("the spec vector signs as %s, want %s", got, specSig)
	}
	if got := sign(edPrivate, specID, specTS, specBody); got != edSig {
		t.Fatalf("the ed25519 vector signs as %s, want %s", got, edSig)
	}
	digest := webhook.ContentDigest
	std := func(sig string, extra ...string) map[string]string {
		h := map[string]string{"webhook-id": specID, "webhook-timestamp": "1614265330", "webhook-signature": sig}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(h, extra[i])
			} else {
				h[extra[i]] = extra[i+1]
			}
		}
		return h
	}
	changed := `{"test": 2432232315}`
	tol := int64(300)
	v := func(name, format string, secrets []string, body string, h map[string]string, now int64, errKind string) vector {
		return vector{Name: name, Format: format, Secrets: secrets, Body: body, Headers: h, Now: now, Tolerance: tol, Error: errKind}
	}
	s := func(xs ...string) []string { return xs }
	return []vector{
		v("standard: the Standard Webhooks spec vector", "standard", s(specSecret), specBody, std(specSig), specTS, ""),
		v("standard: the spec vector, secret without whsec_", "standard", s(specSecret[len("whsec_"):]), specBody, std(specSig), specTS, ""),
		v("standard: ed25519 (v1a) with the public key", "standard", s(edPublic), specBody, std(edSig), specTS, ""),
		v("standard: header names in any case", "standard", s(specSecret), specBody,
			map[string]string{"Webhook-Id": specID, "WEBHOOK-TIMESTAMP": "1614265330", "Webhook-Signature": specSig}, specTS, ""),
		v("standard: rotation, the new secret matches the second entry", "standard", s(otherSecret), specBody,
			std(specSig+" "+sign(otherSecret, specID, specTS, specBody)), specTS, ""),
		v("standard: rotation, the receiver holds both secrets", "standard", s(otherSecret, specSecret), specBody, std(specSig), specTS, ""),
		v("standard: a v1a entry before the v1 entry an HMAC secret checks", "standard", s(specSecret), specBody, std(edSig+" "+specSig), specTS, ""),
		v("standard: timestamp at the edge of the tolerance", "standard", s(specSecret), specBody, std(specSig), specTS+300, ""),
		v("standard: stale timestamp", "standard", s(specSecret), specBody, std(specSig), specTS+301, "timestamp_out_of_tolerance"),
		v("standard: timestamp in the future", "standard", s(specSecret), specBody, std(specSig), specTS-301, "timestamp_out_of_tolerance"),
		v("standard: stale is checked before the signature", "standard", s(otherSecret), specBody, std(specSig), specTS+3600, "timestamp_out_of_tolerance"),
		v("standard: wrong secret, body intact by Content-Digest", "standard", s(otherSecret), specBody,
			std(specSig, "Content-Digest", digest([]byte(specBody))), specTS, "wrong_secret"),
		v("standard: changed body, Content-Digest of the original", "standard", s(specSecret), changed,
			std(specSig, "Content-Digest", digest([]byte(specBody))), specTS, "body_changed"),
		v("standard: changed body, no Content-Digest", "standard", s(specSecret), changed, std(specSig), specTS, "signature_mismatch"),
		v("standard: ed25519, another public key", "standard", s(otherPublic), specBody,
			std(edSig, "Content-Digest", digest([]byte(specBody))), specTS, "wrong_secret"),
		v("standard: ed25519, changed body", "standard", s(edPublic), changed,
			std(edSig, "Content-Digest", digest([]byte(specBody))), specTS, "body_changed"),
		v("standard: only entries of an unknown version", "standard", s(specSecret), specBody, std("v2,"+specSig[3:]), specTS, "signature_mismatch"),
		v("standard: a v1a entry and only an HMAC secret", "standard", s(specSecret), specBody, std(edSig), specTS, "signature_mismatch"),
		v("standard: no signature header", "standard", s(specSecret), specBody, std("", "webhook-signature", ""), specTS, "no_signature"),
		v("standard: no webhook-id", "standard", s(specSecret), specBody, std(specSig, "webhook-id", ""), specTS, "missing_header"),
		v("standard: webhook-timestamp not a number", "standard", s(specSecret), specBody, std(specSig, "webhook-timestamp", "2021-02-25T15:02:10Z"), specTS, "missing_header"),
		v("standard: a request of the frugally format", "standard", s(specSecret), specBody,
			map[string]string{"X-Frugally-Signature": webhook.SignSHA256(specSecret, []byte(specBody))}, specTS, "wrong_format"),
		v("standard: a private key given to verify", "standard", s(edPrivate), specBody, std(edSig), specTS, "invalid_secret"),
		v("standard: a secret too short", "standard", s("whsec_c2hvcnQ="), specBody, std(specSig), specTS, "invalid_secret"),

		v("infraaudit: the ping example", "infraaudit", s(specSecret), pingBody,
			map[string]string{"X-InfraAudit-Signature": "sha256=b38ba96dd82b3ae217378d611c35e1893d93c5c9d49df6bbf372d695f9f9c440"}, specTS, ""),
		v("infraaudit: rotation, the new secret in the -Next header", "infraaudit", s(shaNew), pingBody, map[string]string{
			"X-InfraAudit-Signature":      webhook.SignSHA256(shaOld, []byte(pingBody)),
			"X-InfraAudit-Signature-Next": webhook.SignSHA256(shaNew, []byte(pingBody)),
		}, specTS, ""),
		v("infraaudit: wrong secret, body intact by Content-Digest", "infraaudit", s(shaNew), pingBody, map[string]string{
			"X-InfraAudit-Signature": webhook.SignSHA256(shaOld, []byte(pingBody)), "Content-Digest": digest([]byte(pingBody)),
		}, specTS, "wrong_secret"),
		v("infraaudit: a standard request", "infraaudit", s(shaOld), specBody, std(specSig), specTS, "wrong_format"),
		v("infraaudit: an ed25519 key", "infraaudit", s(edPublic), pingBody,
			map[string]string{"X-InfraAudit-Signature": webhook.SignSHA256(shaOld, []byte(pingBody))}, specTS, "invalid_secret"),

		v("frugally: signed with the secret string itself", "frugally", s(shaOld), pingBody,
			map[string]string{"x-frugally-signature": webhook.SignSHA256(shaOld, []byte(pingBody))}, specTS, ""),
		v("frugally: changed body, Content-Digest of the original", "frugally", s(shaOld), pingBody+" ", map[string]string{
			"X-Frugally-Signature": webhook.SignSHA256(shaOld, []byte(pingBody)), "Content-Digest": digest([]byte(pingBody)),
		}, specTS, "body_changed"),
		v("frugally: signature not sha256=<hex>", "frugally", s(shaOld), pingBody,
			map[string]string{"X-Frugally-Signature": "md5=0123"}, specTS, "signature_mismatch"),
		v("frugally: no signature", "frugally", s(shaOld), pingBody, map[string]string{"Content-Type": "application/json"}, specTS, "no_signature"),
		v("unknown format", "svix", s(specSecret), specBody, std(specSig), specTS, "unknown_format"),
	}
}

// reason is the vector name of err's kind.
func reason(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{webhook.ErrWrongSecret, "wrong_secret"},
		{webhook.ErrBodyChanged, "body_changed"},
		{webhook.ErrSignatureMismatch, "signature_mismatch"},
		{webhook.ErrNoSignature, "no_signature"},
		{webhook.ErrWrongFormat, "wrong_format"},
		{webhook.ErrMissingHeader, "missing_header"},
		{webhook.ErrTimestampOutOfTolerance, "timestamp_out_of_tolerance"},
		{webhook.ErrInvalidSecret, "invalid_secret"},
		{webhook.ErrUnknownFormat, "unknown_format"},
	}
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "unexpected: " + err.Error()
}

// TestVectors checks that the Go receiver library decides every vector as it says,
// and that vectors.json holds exactly these vectors.
func TestVectors(t *testing.T) {
	vs := cases(t)
	for _, vec := range vs {
		h := http.Header{}
		for k, val := range vec.Headers {
			h.Add(k, val)
		}
		verifier := &webhook.Verifier{
			Format:    webhook.Format(vec.Format),
			Secrets:   vec.Secrets,
			Tolerance: time.Duration(vec.Tolerance) * time.Second,
			Now:       func() time.Time { return time.Unix(vec.Now, 0) },
		}
		if got := reason(verifier.Verify(h, []byte(vec.Body))); got != vec.Error {
			t.Errorf("%s: webhook.Verify says %q, the vector %q", vec.Name, got, vec.Error)
		}
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	err := enc.Encode(vectorFile{
		Comment: "Verification vectors every Herald client must decide alike. error is \"\" when the request verifies, else the reason. Generated and checked against webhook/ by vectors_test.go (go test ./clients/python/tests -update).",
		Vectors: vs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("vectors.json", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("vectors.json")
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Errorf("vectors.json is stale: run go test ./clients/python/tests -run TestVectors -update")
	}
}
