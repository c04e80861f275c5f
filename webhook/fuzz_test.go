package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// sentinels are the errors every error of the package wraps one of.
var sentinels = []error{
	webhook.ErrNoSignature, webhook.ErrWrongFormat, webhook.ErrMissingHeader,
	webhook.ErrTimestampOutOfTolerance, webhook.ErrSignatureMismatch, webhook.ErrInvalidSecret,
	webhook.ErrUnknownFormat, webhook.ErrBodyTooLarge, webhook.ErrInvalidPayload,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzVerify feeds Verify arbitrary headers and bodies: it must not panic, must explain
// every refusal with a sentinel, and must always accept what Sign signed.
func FuzzVerify(f *testing.F) {
	f.Add(uint8(2), vectorSig, vectorID, strconv.Itoa(vectorTS), "", []byte(vectorBody))
	f.Add(uint8(2), vectorSigV1a+" v2,abc v1,", vectorID, "1614265330", webhook.ContentDigest([]byte(vectorBody)), []byte(vectorBody))
	f.Add(uint8(0), webhook.SignSHA256(vectorSecret, []byte(infraAuditBody)), "", "", "", []byte(infraAuditBody))
	f.Add(uint8(1), "sha256=00", "", "", "sha-256=:AAAA:, sha-512=:=:", []byte(frugallyBody))
	f.Add(uint8(1), "", "", "", "", []byte(standardBody+"\n"))
	f.Add(uint8(2), "v1,", " ", "+1614265330", "sha-256=::", []byte(""))

	f.Fuzz(func(t *testing.T, formatIndex uint8, sig, id, ts, digest string, body []byte) {
		format := allFormats[int(formatIndex)%len(allFormats)]
		now := func() time.Time { return vectorTime }
		hmacVerifier := &webhook.Verifier{Format: format, Secrets: []string{vectorSecret}, Now: now}
		bothVerifier := &webhook.Verifier{Format: webhook.FormatStandard, Secrets: []string{otherSecret, vectorPublic}, Now: now}

		// Arbitrary headers: no panic, every error explained. The signature goes in the
		// header of this format or of another.
		h := http.Header{}
		names := []string{webhook.HeaderInfraAuditSignature, webhook.HeaderFrugallySignatureNext, webhook.HeaderWebhookSignature}
		h.Set(names[int(formatIndex/3)%len(names)], sig)
		h.Set(webhook.HeaderWebhookID, id)
		h.Set(webhook.HeaderWebhookTimestamp, ts)
		h.Set(webhook.HeaderContentDigest, digest)
		for _, v := range []*webhook.Verifier{hmacVerifier, bothVerifier} {
			if err := v.Verify(h, body); err != nil && !isSentinel(err) {
				t.Errorf("Verify error %v wraps no sentinel", err)
			}
		}

		// What Sign signs verifies, and stops verifying once the body changes.
		if format == webhook.FormatStandard && id == "" {
			return // no webhook-id to sign with
		}
		signers := []struct {
			secret string
			v      *webhook.Verifier
		}{{vectorSecret, hmacVerifier}}
		if format == webhook.FormatStandard {
			signers = append(signers, struct {
				secret string
				v      *webhook.Verifier
			}{vectorPrivate, bothVerifier})
		}
		for _, s := range signers {
			h, err := webhook.Sign(format, s.secret, id, vectorTime, body)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if err := s.v.Verify(h, body); err != nil {
				t.Fatalf("Verify of a signed request: %v", err)
			}
			changed := append(bytes.Clone(body), ' ')
			if err := s.v.Verify(h, changed); !errors.Is(err, webhook.ErrBodyChanged) {
				t.Fatalf("Verify of a changed body = %v, want ErrBodyChanged", err)
			}
		}
	})
}

// FuzzParse feeds Parse arbitrary bodies: it must not panic, and what it returns must
// agree with the body.
func FuzzParse(f *testing.F) {
	f.Add(uint8(0), "", []byte(infraAuditBody))
	f.Add(uint8(1), "", []byte(frugallyBody))
	f.Add(uint8(2), "evt_01JD", []byte(standardBody))
	f.Add(uint8(2), "", []byte(standardBody))
	f.Add(uint8(1), "", []byte(`{"id":"e","type":"t","timestamp":"2025-03-10T19:00:00+01:00","team_id":"","data":null,"id":"f"}`))
	f.Add(uint8(0), "", []byte(`{"event":"ping","timestamp":"x","webhook_id":1,"delivery_id":"d","data":{}}`))
	f.Add(uint8(1), "", []byte(`[]`))

	f.Fuzz(func(t *testing.T, formatIndex uint8, id string, body []byte) {
		format := allFormats[int(formatIndex)%len(allFormats)]
		e, err := webhook.Parse(format, http.Header{"Webhook-Id": {id}}, body)
		if err != nil {
			if e != nil {
				t.Errorf("Parse returned an event with its error %v", err)
			}
			if !errors.Is(err, webhook.ErrInvalidPayload) && !errors.Is(err, webhook.ErrMissingHeader) {
				t.Errorf("Parse error %v is neither ErrInvalidPayload nor ErrMissingHeader", err)
			}
			return
		}

		// UseNumber: a number beyond float64, such as 1e999999, is valid JSON that Parse
		// rightly accepts; it is not this check's business.
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			t.Fatalf("Parse accepted a body that is not a JSON object: %v", err)
		}
		str := func(name string) string { s, _ := fields[name].(string); return s }
		check := func(what, got, want string) {
			if got != want {
				t.Errorf("%s = %q, want %q", what, got, want)
			}
		}
		check("Format", string(e.Format), string(format))
		if e.ID == "" || e.Type == "" {
			t.Errorf("Parse accepted an event without id or type: %+v", e)
		}
		if !json.Valid(e.Data) {
			t.Errorf("Data %q is not JSON", e.Data)
		}
		if ts, err := time.Parse(time.RFC3339, str("timestamp")); err != nil || !ts.Equal(e.Timestamp) {
			t.Errorf("Timestamp = %v, body says %q", e.Timestamp, str("timestamp"))
		}
		switch format {
		case webhook.FormatInfraAudit:
			check("Type", e.Type, str("event"))
			check("ID", e.ID, str("delivery_id"))
			check("DeliveryID", e.DeliveryID, str("delivery_id"))
			check("WebhookID", e.WebhookID, str("webhook_id"))
			check("EventID", e.EventID, "")
		case webhook.FormatFrugally:
			check("Type", e.Type, str("type"))
			check("ID", e.ID, str("id"))
			check("EventID", e.EventID, str("id"))
			check("TeamID", e.TeamID, str("team_id"))
		case webhook.FormatStandard:
			check("Type", e.Type, str("type"))
			check("ID", e.ID, id)
			check("EventID", e.EventID, id)
		}

		if _, err := e.Payload(); err != nil && !errors.Is(err, webhook.ErrInvalidPayload) {
			t.Errorf("Payload error %v is not ErrInvalidPayload", err)
		}
	})
}
