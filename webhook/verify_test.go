package webhook_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

const (
	otherSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	body        = `{"type":"ping","timestamp":"2024-01-15T10:00:00Z","data":{"webhook_id":"wh_abc123","message":"Webhook endpoint verified"}}`
)

// signed returns the headers Herald sends for body in format, signed with secret at
// vectorTime, without Content-Digest unless digest is set.
func signed(t *testing.T, format webhook.Format, secret, body string, digest bool) http.Header {
	t.Helper()
	h, err := webhook.Sign(format, secret, vectorID, vectorTime, []byte(body))
	if err != nil {
		t.Fatalf("Sign(%s): %v", format, err)
	}
	if !digest {
		h.Del(webhook.HeaderContentDigest)
	}
	return h
}

// verifier returns a Verifier of format for secrets whose clock says vectorTime.
func verifier(t *testing.T, format webhook.Format, secrets ...string) *webhook.Verifier {
	t.Helper()
	v, err := webhook.NewVerifier(format, secrets...)
	if err != nil {
		t.Fatalf("NewVerifier(%s): %v", format, err)
	}
	v.Now = func() time.Time { return vectorTime }
	return v
}

// checkErr fails t unless err wraps every one of want (nil: err is nil) and its
// message contains every one of msgs.
func checkErr(t *testing.T, err error, want []error, msgs ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("error = %v, want one that is %v", err, w)
		}
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not say %q", err, m)
		}
	}
}

func errs(e ...error) []error { return e }

var sha256Formats = []webhook.Format{webhook.FormatInfraAudit, webhook.FormatFrugally}

func TestVerifySHA256(t *testing.T) {
	t.Parallel()
	for _, format := range sha256Formats {
		main, next := webhook.HeaderInfraAuditSignature, webhook.HeaderInfraAuditSignatureNext
		if format == webhook.FormatFrugally {
			main, next = webhook.HeaderFrugallySignature, webhook.HeaderFrugallySignatureNext
		}
		rotated := func() http.Header { // Herald during a rotation from otherSecret to vectorSecret
			h := signed(t, format, otherSecret, body, false)
			h.Set(next, webhook.SignSHA256(vectorSecret, []byte(body)))
			return h
		}
		onlyNext := func() http.Header {
			h := rotated()
			h.Del(main)
			return h
		}
		tests := []struct {
			name    string
			secrets []string
			header  http.Header
			body    string
			want    []error
			msgs    []string
		}{
			{name: "valid", header: signed(t, format, vectorSecret, body, false), body: body},
			{name: "valid with digest", header: signed(t, format, vectorSecret, body, true), body: body},
			{name: "second secret", secrets: []string{otherSecret, vectorSecret}, header: signed(t, format, vectorSecret, body, false), body: body},
			{name: "uppercase hex", header: http.Header{main: {"sha256=" + strings.ToUpper(strings.TrimPrefix(webhook.SignSHA256(vectorSecret, []byte(body)), "sha256="))}}, body: body},
			{name: "rotation, new secret matches -Next", header: rotated(), body: body},
			{name: "rotation, old secret matches main", secrets: []string{otherSecret}, header: rotated(), body: body},
			{name: "only -Next", header: onlyNext(), body: body},
			{name: "tampered body", header: signed(t, format, vectorSecret, body, false), body: strings.Replace(body, "ping", "pong", 1),
				want: errs(webhook.ErrSignatureMismatch), msgs: []string{"wrong secret, or the body was changed"}},
			{name: "wrong secret", secrets: []string{otherSecret}, header: signed(t, format, vectorSecret, body, false), body: body,
				want: errs(webhook.ErrSignatureMismatch)},
			{name: "wrong secret, digest intact", secrets: []string{otherSecret}, header: signed(t, format, vectorSecret, body, true), body: body,
				want: errs(webhook.ErrWrongSecret, webhook.ErrSignatureMismatch), msgs: []string{"the secret is wrong"}},
			{name: "body changed, digest says so", header: signed(t, format, vectorSecret, body, true), body: body + "\n",
				want: errs(webhook.ErrBodyChanged, webhook.ErrSignatureMismatch), msgs: []string{"changed after it was sent", "whitespace"}},
			{name: "re-serialised body", header: signed(t, format, vectorSecret, body, false), body: strings.ReplaceAll(body, ",", ", "),
				want: errs(webhook.ErrSignatureMismatch), msgs: []string{"re-serialised"}},
			{name: "empty body", header: signed(t, format, vectorSecret, body, false), body: "",
				want: errs(webhook.ErrSignatureMismatch), msgs: []string{"empty"}},
			{name: "malformed signature", header: http.Header{main: {"sha256=zz"}}, body: body,
				want: errs(webhook.ErrSignatureMismatch), msgs: []string{main, "is not sha256="}},
			{name: "no prefix", header: http.Header{main: {strings.TrimPrefix(webhook.SignSHA256(vectorSecret, []byte(body)), "sha256=")}}, body: body,
				want: errs(webhook.ErrSignatureMismatch)},
			{name: "no signature", header: http.Header{"Content-Type": {"application/json"}}, body: body,
				want: errs(webhook.ErrNoSignature), msgs: []string{main}},
			{name: "standard request", header: signed(t, webhook.FormatStandard, vectorSecret, body, false), body: body,
				want: errs(webhook.ErrWrongFormat), msgs: []string{"standard"}},
		}
		for _, tt := range tests {
			t.Run(string(format)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				secrets := tt.secrets
				if secrets == nil {
					secrets = []string{vectorSecret}
				}
				err := verifier(t, format, secrets...).Verify(tt.header, []byte(tt.body))
				checkErr(t, err, tt.want, tt.msgs...)
			})
		}
	}
}

func TestVerifyWrongFormatNamesIt(t *testing.T) {
	t.Parallel()
	h := signed(t, webhook.FormatFrugally, vectorSecret, body, false)
	for _, format := range []webhook.Format{webhook.FormatInfraAudit, webhook.FormatStandard} {
		err := verifier(t, format, vectorSecret).Verify(h, []byte(body))
		checkErr(t, err, errs(webhook.ErrWrongFormat), "frugally", webhook.HeaderFrugallySignature)
	}
}

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	vector := func() http.Header { return signed(t, webhook.FormatStandard, vectorSecret, vectorBody, false) }
	with := func(name, value string) http.Header {
		h := vector()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	at := func(d time.Duration) http.Header { // signed d after vectorTime
		h, err := webhook.Sign(webhook.FormatStandard, vectorSecret, vectorID, vectorTime.Add(d), []byte(vectorBody))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		header    http.Header
		body      string
		want      []error
		msgs      []string
	}{
		{name: "vector", header: vector()},
		{name: "vector, headers in lower case", header: http.Header{
			"webhook-id": {vectorID}, "webhook-timestamp": {"1614265330"}, "webhook-signature": {vectorSig},
		}},
		{name: "ed25519 vector", secrets: []string{vectorPublic}, header: with(webhook.HeaderWebhookSignature, vectorSigV1a)},
		{name: "ed25519 among secrets", secrets: []string{otherSecret, vectorPublic}, header: with(webhook.HeaderWebhookSignature, vectorSigV1a)},
		{name: "several entries", header: with(webhook.HeaderWebhookSignature, "v1,Zm9v v2,whatever "+vectorSig)},
		{name: "rotation", secrets: []string{otherSecret}, header: with(webhook.HeaderWebhookSignature, vectorSig+" "+mustSign(t, otherSecret))},
		{name: "4 minutes old", header: at(-4 * time.Minute)},
		{name: "4 minutes ahead", header: at(4 * time.Minute)},
		{name: "6 minutes old", header: at(-6 * time.Minute),
			want: errs(webhook.ErrTimestampOutOfTolerance), msgs: []string{"6m0s in the past", "5m0s tolerance"}},
		{name: "6 minutes ahead", header: at(6 * time.Minute),
			want: errs(webhook.ErrTimestampOutOfTolerance), msgs: []string{"6m0s in the future"}},
		{name: "6 minutes old, tolerance 1h", tolerance: time.Hour, header: at(-6 * time.Minute)},
		{name: "a year old, no tolerance", tolerance: -1, header: at(-365 * 24 * time.Hour)},
		{name: "absurd timestamp", header: with(webhook.HeaderWebhookTimestamp, "-9223372036854775808"),
			want: errs(webhook.ErrTimestampOutOfTolerance)},
		{name: "tolerance before signature", header: with(webhook.HeaderWebhookTimestamp, "1614265000"),
			want: errs(webhook.ErrTimestampOutOfTolerance)},
		{name: "no webhook-id", header: with(webhook.HeaderWebhookID, ""),
			want: errs(webhook.ErrMissingHeader), msgs: []string{"webhook-id"}},
		{name: "no webhook-timestamp", header: with(webhook.HeaderWebhookTimestamp, ""),
			want: errs(webhook.ErrMissingHeader), msgs: []string{"webhook-timestamp"}},
		{name: "malformed webhook-timestamp", header: with(webhook.HeaderWebhookTimestamp, "2021-02-25T15:02:10Z"),
			want: errs(webhook.ErrMissingHeader), msgs: []string{"webhook-timestamp", "Unix seconds"}},
		{name: "no signature", header: with(webhook.HeaderWebhookSignature, ""),
			want: errs(webhook.ErrNoSignature), msgs: []string{"webhook-signature"}},
		{name: "infraaudit request", header: signed(t, webhook.FormatInfraAudit, vectorSecret, vectorBody, false),
			want: errs(webhook.ErrWrongFormat), msgs: []string{"infraaudit"}},
		{name: "other id", header: with(webhook.HeaderWebhookID, "msg_other"),
			want: errs(webhook.ErrSignatureMismatch)},
		{name: "tampered body", body: `{"test": 2432232315}`, header: vector(),
			want: errs(webhook.ErrSignatureMismatch)},
		{name: "wrong secret", secrets: []string{otherSecret}, header: vector(),
			want: errs(webhook.ErrSignatureMismatch)},
		{name: "wrong secret, digest intact", secrets: []string{otherSecret}, header: signed(t, webhook.FormatStandard, vectorSecret, vectorBody, true),
			want: errs(webhook.ErrWrongSecret, webhook.ErrSignatureMismatch)},
		{name: "tampered body, digest", body: `{"test":2432232314}`, header: signed(t, webhook.FormatStandard, vectorSecret, vectorBody, true),
			want: errs(webhook.ErrBodyChanged, webhook.ErrSignatureMismatch)},
		{name: "unknown versions only", header: with(webhook.HeaderWebhookSignature, "v2,"+strings.TrimPrefix(vectorSig, "v1,")),
			want: errs(webhook.ErrSignatureMismatch), msgs: []string{"no entry", "v2"}},
		{name: "v1a without a public key", header: with(webhook.HeaderWebhookSignature, vectorSigV1a),
			want: errs(webhook.ErrSignatureMismatch), msgs: []string{"no entry"}},
		{name: "v1 without a whsec_ secret", secrets: []string{vectorPublic}, header: vector(),
			want: errs(webhook.ErrSignatureMismatch), msgs: []string{"no entry"}},
		{name: "v1a signature as v1", header: with(webhook.HeaderWebhookSignature, "v1,"+strings.TrimPrefix(vectorSigV1a, "v1a,")),
			want: errs(webhook.ErrSignatureMismatch)},
		{name: "ed25519 signature of another body", secrets: []string{vectorPublic}, body: `{"test": 1}`, header: with(webhook.HeaderWebhookSignature, vectorSigV1a),
			want: errs(webhook.ErrSignatureMismatch)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secrets := tt.secrets
			if secrets == nil {
				secrets = []string{vectorSecret}
			}
			v := verifier(t, webhook.FormatStandard, secrets...)
			v.Tolerance = tt.tolerance
			b := tt.body
			if b == "" {
				b = vectorBody
			}
			checkErr(t, v.Verify(tt.header, []byte(b)), tt.want, tt.msgs...)
		})
	}
}

// mustSign returns the standard signature of the vector under secret.
func mustSign(t *testing.T, secret string) string {
	t.Helper()
	sig, err := webhook.SignStandard(secret, vectorID, vectorTS, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestVerifyContentDigestParsing(t *testing.T) {
	t.Parallel()
	digest := webhook.ContentDigest([]byte(body))
	tests := []struct {
		name  string
		value []string
		want  error
	}{
		{"sha-256 alone", []string{digest}, webhook.ErrWrongSecret},
		{"among others", []string{"sha-512=:" + strings.Repeat("A", 86) + "==:, " + digest}, webhook.ErrWrongSecret},
		{"on two lines", []string{"md5=:AAAA:", digest}, webhook.ErrWrongSecret},
		{"with a parameter", []string{digest + ";note=1"}, webhook.ErrWrongSecret},
		{"another body's", []string{webhook.ContentDigest([]byte("{}"))}, webhook.ErrBodyChanged},
		{"last member wins", []string{digest + ", " + webhook.ContentDigest([]byte("{}"))}, webhook.ErrBodyChanged},
		{"other algorithms only", []string{"sha-512=:" + strings.Repeat("A", 86) + "==:"}, webhook.ErrSignatureMismatch},
		{"not a byte sequence", []string{"sha-256=" + strings.Trim(strings.TrimPrefix(digest, "sha-256="), ":")}, webhook.ErrSignatureMismatch},
		{"not base64", []string{"sha-256=:!!!:"}, webhook.ErrSignatureMismatch},
		{"empty", []string{""}, webhook.ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := signed(t, webhook.FormatFrugally, vectorSecret, body, false)
			h[webhook.HeaderContentDigest] = tt.value
			err := verifier(t, webhook.FormatFrugally, otherSecret).Verify(h, []byte(body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			// Without a usable digest the error is neither of the two diagnoses.
			if tt.want == webhook.ErrSignatureMismatch && (errors.Is(err, webhook.ErrWrongSecret) || errors.Is(err, webhook.ErrBodyChanged)) {
				t.Errorf("error = %v, want a plain signature mismatch", err)
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  webhook.Format
		secrets []string
		want    error
		msg     string
	}{
		{"infraaudit", webhook.FormatInfraAudit, []string{vectorSecret}, nil, ""},
		{"frugally, custom secret", webhook.FormatFrugally, []string{"my-own-secret-0123"}, nil, ""},
		{"standard, both kinds", webhook.FormatStandard, []string{vectorSecret, vectorPublic}, nil, ""},
		{"unknown format", "Standard", []string{vectorSecret}, webhook.ErrUnknownFormat, "Standard"},
		{"no secret", webhook.FormatStandard, nil, webhook.ErrInvalidSecret, "no secret"},
		{"empty secret", webhook.FormatInfraAudit, []string{""}, webhook.ErrInvalidSecret, "secret 1 of 1"},
		{"secret with a space", webhook.FormatFrugally, []string{vectorSecret, "my own secret 0123"}, webhook.ErrInvalidSecret, "secret 2 of 2"},
		{"public key for frugally", webhook.FormatFrugally, []string{vectorPublic}, webhook.ErrInvalidSecret, "standard"},
		{"private key", webhook.FormatStandard, []string{vectorPrivate}, webhook.ErrInvalidSecret, "whpk_"},
		{"standard secret not base64", webhook.FormatStandard, []string{"whsec_my-own-secret"}, webhook.ErrInvalidSecret, "base64"},
		{"public key too short", webhook.FormatStandard, []string{"whpk_AAAA"}, webhook.ErrInvalidSecret, "32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := webhook.NewVerifier(tt.format, tt.secrets...)
			if tt.want == nil {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v; want a verifier", v, err)
				}
				return
			}
			checkErr(t, err, errs(tt.want), tt.msg)
			for _, s := range tt.secrets {
				if len(s) > 8 && strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

// TestVerifyUnvalidatedVerifier checks a Verifier built without NewVerifier still
// refuses bad configuration rather than accepting anything.
func TestVerifyUnvalidatedVerifier(t *testing.T) {
	t.Parallel()
	h := signed(t, webhook.FormatFrugally, vectorSecret, body, false)
	for _, v := range []*webhook.Verifier{
		{Format: webhook.FormatFrugally},
		{Format: "", Secrets: []string{vectorSecret}},
		{Format: webhook.FormatFrugally, Secrets: []string{""}},
	} {
		if err := v.Verify(h, []byte(body)); err == nil {
			t.Errorf("Verify with %+v accepted a request", v)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	newRequest := func(b string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(b))
		for k, vs := range signed(t, webhook.FormatFrugally, vectorSecret, b, false) {
			r.Header[k] = vs
		}
		return r
	}

	v := verifier(t, webhook.FormatFrugally, vectorSecret)
	r := newRequest(body)
	got, err := v.VerifyRequest(r)
	if err != nil || string(got) != body {
		t.Fatalf("VerifyRequest = %q, %v; want the body", got, err)
	}
	again, err := io.ReadAll(r.Body)
	if err != nil || string(again) != body {
		t.Errorf("r.Body after VerifyRequest = %q, %v; want the body again", again, err)
	}

	v.MaxBody = int64(len(body))
	if _, err := v.VerifyRequest(newRequest(body)); err != nil {
		t.Errorf("VerifyRequest of a body of exactly MaxBody: %v", err)
	}
	v.MaxBody--
	_, err = v.VerifyRequest(newRequest(body))
	checkErr(t, err, errs(webhook.ErrBodyTooLarge))

	// Without Content-Length, the limit holds while reading.
	r = newRequest(body)
	r.ContentLength = -1
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(body), bytes.NewReader(make([]byte, 10))))
	_, err = v.VerifyRequest(r)
	checkErr(t, err, errs(webhook.ErrBodyTooLarge))

	r = newRequest(body)
	r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "ping", "pong", 1)))
	_, err = verifier(t, webhook.FormatFrugally, vectorSecret).VerifyRequest(r)
	checkErr(t, err, errs(webhook.ErrSignatureMismatch))
}

// TestVerifyRefusesSignatureFlood sends a standard request whose webhook-signature holds
// thousands of entries: it is refused without checking each against the body.
func TestVerifyRefusesSignatureFlood(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"type":"ping","timestamp":"2024-01-15T10:00:00Z","data":{}}`)
	now := time.Now()
	h, err := webhook.Sign(webhook.FormatStandard, secret, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
	if err != nil {
		t.Fatal(err)
	}
	valid := h.Get("webhook-signature")
	junk := strings.Repeat("v1,AAAA ", 5000)
	h.Set("webhook-signature", junk+valid)
	if err := v.Verify(h, body); !errors.Is(err, webhook.ErrSignatureMismatch) || !strings.Contains(err.Error(), "entries") {
		t.Errorf("5,001 entries: %v, want a refusal for too many entries", err)
	}
	h.Set("webhook-signature", "v1,AAAA v1,BBBB "+valid) // a few are fine
	if err := v.Verify(h, body); err != nil {
		t.Errorf("3 entries, the last valid: %v", err)
	}
}
