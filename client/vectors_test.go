package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// TestSharedVectors checks that Go's verifier, package webhook, decides every vector the
// clients share as the file says, with the sentinel error of its stated reason: the Go
// side of "the three clients agree", run as the TypeScript and Python tests run the same
// file.
func TestSharedVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "clients", "testdata", "vectors.json"))
	if err != nil {
		t.Fatalf("the shared vectors: %v", err)
	}
	var vectors []struct {
		Name      string            `json:"name"`
		Format    webhook.Format    `json:"format"`
		Secret    string            `json:"secret"`
		Headers   map[string]string `json:"headers"`
		Body      string            `json:"body"`
		Timestamp int64             `json:"timestamp"`
		Valid     bool              `json:"valid"`
		Error     string            `json:"error"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatalf("the shared vectors: %v", err)
	}
	reasons := map[string]error{
		"no_signature":       webhook.ErrNoSignature,
		"wrong_format":       webhook.ErrWrongFormat,
		"missing_header":     webhook.ErrMissingHeader,
		"stale_timestamp":    webhook.ErrTimestampOutOfTolerance,
		"wrong_secret":       webhook.ErrWrongSecret,
		"body_changed":       webhook.ErrBodyChanged,
		"signature_mismatch": webhook.ErrSignatureMismatch,
	}
	var spec, ed25519 bool
	for _, v := range vectors {
		sig := v.Headers["webhook-signature"]
		spec = spec || (v.Valid && strings.HasPrefix(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="))
		ed25519 = ed25519 || (v.Valid && strings.Contains(sig, "v1a,"))
		t.Run(v.Name, func(t *testing.T) {
			verifier, err := webhook.NewVerifier(v.Format, v.Secret)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			verifier.Now = func() time.Time { return time.Unix(v.Timestamp, 0) }
			h := http.Header{}
			for name, value := range v.Headers {
				h.Set(name, value)
			}
			err = verifier.Verify(h, []byte(v.Body))
			if v.Valid {
				if err != nil {
					t.Errorf("refused: %v; the vector is valid", err)
				}
				return
			}
			want, ok := reasons[v.Error]
			if !ok {
				t.Fatalf("unknown reason %q", v.Error)
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v, want %s", err, v.Error)
			}
			if v.Error == "signature_mismatch" && (errors.Is(err, webhook.ErrWrongSecret) || errors.Is(err, webhook.ErrBodyChanged)) {
				t.Errorf("error %v: said more than the vector can tell (no Content-Digest)", err)
			}
		})
	}
	if !spec || !ed25519 {
		t.Errorf("the file lacks the Standard Webhooks vector (%t) or a valid ed25519 one (%t)", spec, ed25519)
	}
}
