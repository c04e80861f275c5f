// Command genvectors writes the signature test vectors every Herald client verifies,
// clients/testdata/vectors.json, to standard output. Each vector is signed with the
// webhook package, then checked with its Verifier: a vector the Go receiver does not
// judge as the file says is never written. The output is deterministic.
//
//	go run ./clients/testdata/genvectors > clients/testdata/vectors.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The Standard Webhooks specification's vector, and the ed25519 key pair of the webhook
// package's tests.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	edPrivate  = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	edPublic   = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
	edSig      = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="

	// A second standard secret (the new one of a rotation) and the sha256= formats'
	// secrets, which sign with the whole string.
	newSecret      = "whsec_9kYzQ4aX2bV7cN1dR5fT8gH3jK6mP0sWuEoLiAyB"
	otherSecret    = "whsec_C2FtZSBsZW5ndGggYnV0IGEgZGlmZmVyZW50IGtleQ=="
	shaOld         = "whsec_infraaudit-old-secret-0001"
	shaNew         = "whsec_infraaudit-new-secret-0002"
	shaWrong       = "whsec_not-the-secret-you-are-looking-for"
	infraauditBody = `{"event":"drift.detected","timestamp":"2024-01-15T14:30:00Z","webhook_id":"wh_abc123","delivery_id":"del_xyz789","data":{"drift_id":55,"severity":"critical","summary":"BlockPublicAcls changed from true to false"}}`
	frugallyBody   = `{"id":"evt_01J9Z8Q3M4N5P6R7S8T9V0W1X2","type":"budget.exceeded","timestamp":"2024-01-15T14:30:00Z","team_id":"team_xyz","data":{"budget_id":"bud_123","amount":1250.5,"limit":1000,"currency":"USD"}}`
	standardBody   = `{"type":"drift.detected","timestamp":"2024-01-15T14:30:00Z","data":{"drift_id":55,"summary":"café <ünïcode> & \"quotes\""}}`
)

// vector is one entry of vectors.json.
type vector struct {
	Name      string            `json:"name"`
	Format    string            `json:"format"`
	Secret    string            `json:"secret"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Timestamp int64             `json:"timestamp"`
	Valid     bool              `json:"valid"`
	Error     string            `json:"error,omitempty"`
}

// reasons maps the webhook package's errors to the vectors' error names, most specific
// first.
var reasons = []struct {
	err  error
	name string
}{
	{webhook.ErrNoSignature, "no_signature"},
	{webhook.ErrWrongFormat, "wrong_format"},
	{webhook.ErrMissingHeader, "missing_header"},
	{webhook.ErrTimestampOutOfTolerance, "stale_timestamp"},
	{webhook.ErrWrongSecret, "wrong_secret"},
	{webhook.ErrBodyChanged, "body_changed"},
	{webhook.ErrSignatureMismatch, "signature_mismatch"},
}

func main() {
	vs, err := vectors()
	if err == nil {
		err = check(vs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(1)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vs); err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out.Bytes())
}

// check verifies every vector with the Go receiver and fails unless it judges each as
// the vector says.
func check(vs []vector) error {
	for _, v := range vs {
		verifier, err := webhook.NewVerifier(webhook.Format(v.Format), v.Secret)
		if err != nil {
			return fmt.Errorf("%s: %v", v.Name, err)
		}
		verifier.Now = func() time.Time { return time.Unix(v.Timestamp, 0) }
		h := http.Header{}
		for k, val := range v.Headers {
			h.Set(k, val)
		}
		got := "valid"
		if err := verifier.Verify(h, []byte(v.Body)); err != nil {
			got = "unclassified: " + err.Error()
			for _, r := range reasons {
				if errors.Is(err, r.err) {
					got = r.name
					break
				}
			}
		}
		want := v.Error
		if v.Valid {
			want = "valid"
		}
		if got != want {
			return fmt.Errorf("%s: the Go verifier says %s, the vector %s", v.Name, got, want)
		}
	}
	return nil
}

// signed returns the headers Herald sends for body of format, signed with secret (for
// standard with id and ts), as a lowercase map, with or without Content-Digest.
func signed(format webhook.Format, secret, id string, ts int64, body string, digest bool) (map[string]string, error) {
	h, err := webhook.Sign(format, secret, id, time.Unix(ts, 0), []byte(body))
	if err != nil {
		return nil, err
	}
	out := map[string]string{"content-type": "application/json"}
	for k := range h {
		out[strings.ToLower(k)] = h.Get(k)
	}
	if !digest {
		delete(out, "content-digest")
	}
	return out, nil
}

// with returns a copy of h with the changes: an empty value deletes the header.
func with(h map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func vectors() ([]vector, error) {
	const ts = int64(1735689600) // 2025-01-01T00:00:00Z
	std, err := signed(webhook.FormatStandard, newSecret, "evt_01JGCXV0000000000000000000", ts, standardBody, true)
	if err != nil {
		return nil, err
	}
	oldEntry, err := webhook.SignStandard(specSecret, "evt_01JGCXV0000000000000000000", ts, []byte(standardBody))
	if err != nil {
		return nil, err
	}
	edEntry, err := webhook.SignStandard(edPrivate, "evt_01JGCXV0000000000000000000", ts, []byte(standardBody))
	if err != nil {
		return nil, err
	}
	ia, err := signed(webhook.FormatInfraAudit, shaNew, "", ts, infraauditBody, true)
	if err != nil {
		return nil, err
	}
	fr, err := signed(webhook.FormatFrugally, shaNew, "", ts, frugallyBody, true)
	if err != nil {
		return nil, err
	}
	spec := map[string]string{
		"webhook-id":        specID,
		"webhook-timestamp": strconv.Itoa(specTS),
		"webhook-signature": specSig,
	}
	edHeaders := with(spec, "webhook-signature", edSig)
	changedStd := strings.Replace(standardBody, `"drift_id":55`, `"drift_id":56`, 1)
	changedIA := strings.Replace(infraauditBody, "critical", "low", 1)
	changedFr := strings.Replace(frugallyBody, "1250.5", "1250.50", 1)
	stdSig := std["webhook-signature"]

	return []vector{
		{Name: "standard webhooks specification vector", Format: "standard", Secret: specSecret, Headers: spec, Body: specBody, Timestamp: specTS, Valid: true},
		{Name: "standard secret without the whsec_ prefix", Format: "standard", Secret: strings.TrimPrefix(specSecret, "whsec_"), Headers: spec, Body: specBody, Timestamp: specTS, Valid: true},
		{Name: "ed25519 v1a signature, verified with the public key", Format: "standard", Secret: edPublic, Headers: edHeaders, Body: specBody, Timestamp: specTS, Valid: true},
		{Name: "ed25519 v1a signature, body changed", Format: "standard", Secret: edPublic, Headers: edHeaders, Body: `{"test": 2432232315}`, Timestamp: specTS, Valid: false, Error: "signature_mismatch"},
		{Name: "ed25519 v1a signature, another key", Format: "standard", Secret: "whpk_" + strings.Repeat("A", 43) + "=", Headers: edHeaders, Body: specBody, Timestamp: specTS, Valid: false, Error: "signature_mismatch"},
		{Name: "ed25519 v1a and hmac v1 entries side by side, verified with the public key", Format: "standard", Secret: edPublic, Headers: with(std, "webhook-signature", stdSig+" "+edEntry), Body: standardBody, Timestamp: ts, Valid: true},
		{Name: "standard Herald delivery with Content-Digest", Format: "standard", Secret: newSecret, Headers: std, Body: standardBody, Timestamp: ts, Valid: true},
		{Name: "standard rotation: two v1 entries, verified with the new secret", Format: "standard", Secret: newSecret, Headers: with(std, "webhook-signature", stdSig+" "+oldEntry), Body: standardBody, Timestamp: ts, Valid: true},
		{Name: "standard rotation: two v1 entries, verified with the old secret", Format: "standard", Secret: specSecret, Headers: with(std, "webhook-signature", stdSig+" "+oldEntry), Body: standardBody, Timestamp: ts, Valid: true},
		{Name: "standard: an unknown version entry is ignored", Format: "standard", Secret: newSecret, Headers: with(std, "webhook-signature", "v2,bm90IGEgc2lnbmF0dXJl "+stdSig), Body: standardBody, Timestamp: ts, Valid: true},
		{Name: "standard timestamp 4 minutes old is within tolerance", Format: "standard", Secret: newSecret, Headers: std, Body: standardBody, Timestamp: ts + 240, Valid: true},
		{Name: "standard timestamp 6 minutes old", Format: "standard", Secret: newSecret, Headers: std, Body: standardBody, Timestamp: ts + 360, Valid: false, Error: "stale_timestamp"},
		{Name: "standard timestamp 6 minutes in the future", Format: "standard", Secret: newSecret, Headers: std, Body: standardBody, Timestamp: ts - 360, Valid: false, Error: "stale_timestamp"},
		{Name: "standard wrong secret, body intact by Content-Digest", Format: "standard", Secret: otherSecret, Headers: std, Body: standardBody, Timestamp: ts, Valid: false, Error: "wrong_secret"},
		{Name: "standard body changed, Content-Digest disagrees", Format: "standard", Secret: newSecret, Headers: std, Body: changedStd, Timestamp: ts, Valid: false, Error: "body_changed"},
		{Name: "standard body changed, no Content-Digest", Format: "standard", Secret: newSecret, Headers: with(std, "content-digest", ""), Body: changedStd, Timestamp: ts, Valid: false, Error: "signature_mismatch"},
		{Name: "standard without webhook-id", Format: "standard", Secret: newSecret, Headers: with(std, "webhook-id", ""), Body: standardBody, Timestamp: ts, Valid: false, Error: "missing_header"},
		{Name: "standard without webhook-signature", Format: "standard", Secret: newSecret, Headers: with(std, "webhook-signature", ""), Body: standardBody, Timestamp: ts, Valid: false, Error: "no_signature"},
		{Name: "standard verifier given an infraaudit request", Format: "standard", Secret: newSecret, Headers: ia, Body: infraauditBody, Timestamp: ts, Valid: false, Error: "wrong_format"},
		{Name: "infraaudit Herald delivery", Format: "infraaudit", Secret: shaNew, Headers: ia, Body: infraauditBody, Timestamp: ts, Valid: true},
		{Name: "infraaudit rotation: old secret in the main header, new in -Next", Format: "infraaudit", Secret: shaNew, Headers: with(ia,
			"x-infraaudit-signature", webhook.SignSHA256(shaOld, []byte(infraauditBody)),
			"x-infraaudit-signature-next", webhook.SignSHA256(shaNew, []byte(infraauditBody))), Body: infraauditBody, Timestamp: ts, Valid: true},
		{Name: "infraaudit rotation, verified with the old secret", Format: "infraaudit", Secret: shaOld, Headers: with(ia,
			"x-infraaudit-signature", webhook.SignSHA256(shaOld, []byte(infraauditBody)),
			"x-infraaudit-signature-next", webhook.SignSHA256(shaNew, []byte(infraauditBody))), Body: infraauditBody, Timestamp: ts, Valid: true},
		{Name: "infraaudit wrong secret", Format: "infraaudit", Secret: shaWrong, Headers: ia, Body: infraauditBody, Timestamp: ts, Valid: false, Error: "wrong_secret"},
		{Name: "infraaudit body changed", Format: "infraaudit", Secret: shaNew, Headers: ia, Body: changedIA, Timestamp: ts, Valid: false, Error: "body_changed"},
		{Name: "infraaudit verifier given a frugally request", Format: "infraaudit", Secret: shaNew, Headers: fr, Body: frugallyBody, Timestamp: ts, Valid: false, Error: "wrong_format"},
		{Name: "frugally Herald delivery", Format: "frugally", Secret: shaNew, Headers: fr, Body: frugallyBody, Timestamp: ts, Valid: true},
		{Name: "frugally rotation: old secret in the main header, new in -Next", Format: "frugally", Secret: shaNew, Headers: with(fr,
			"x-frugally-signature", webhook.SignSHA256(shaOld, []byte(frugallyBody)),
			"x-frugally-signature-next", webhook.SignSHA256(shaNew, []byte(frugallyBody))), Body: frugallyBody, Timestamp: ts, Valid: true},
		{Name: "frugally wrong secret", Format: "frugally", Secret: shaWrong, Headers: fr, Body: frugallyBody, Timestamp: ts, Valid: false, Error: "wrong_secret"},
		{Name: "frugally body changed (1250.5 re-serialised as 1250.50)", Format: "frugally", Secret: shaNew, Headers: fr, Body: changedFr, Timestamp: ts, Valid: false, Error: "body_changed"},
		{Name: "frugally without any signature header", Format: "frugally", Secret: shaNew, Headers: with(fr, "x-frugally-signature", ""), Body: frugallyBody, Timestamp: ts, Valid: false, Error: "no_signature"},
		{Name: "frugally verifier given a standard request", Format: "frugally", Secret: shaNew, Headers: std, Body: standardBody, Timestamp: ts, Valid: false, Error: "wrong_format"},
	}, nil
}
