package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
)

// TestDuplicateKeyRefusalIsSmall: a refused duplicate key is quoted, with the keys above
// it, only in part, so a body of huge keys does not come back as a huge error.
func TestDuplicateKeyRefusalIsSmall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := strings.Repeat("ü", 100<<10) // 200 KiB of two-byte runes
	nested := `{"` + big + `a":{"` + big + `b":{"` + big + `":1,"` + big + `":2}}}`
	for _, tt := range []struct {
		name   string
		path   string
		body   string
		status int
		code   string
	}{
		{"request body", "/api/v1/webhooks", `{"url":"` + hookURL + `","name":"x","x":` + nested + `}`, 400, herald.EMALFORMED},
		{"event data", "/api/v1/events", `{"type":"drift.detected","data":` + nested + `}`, 400, herald.EMALFORMED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, e.adminKey, tt.body)
			b := checkError(t, r, tt.status, tt.code)
			if msg := *b.Error; !strings.Contains(msg, "appears twice") || !strings.Contains(msg, "üü…") {
				t.Errorf("message %.200q…, want the duplicate key named, cut with …", msg)
			}
			if len(r.body) > 4<<10 || !utf8.Valid(r.body) {
				t.Errorf("error body of %d bytes (valid UTF-8: %v), want at most 4 KiB of valid UTF-8", len(r.body), utf8.Valid(r.body))
			}
		})
	}
}

// TestOpenAPIDocumentsEveryStatus: the description lists what operations answer: 429 on
// every authenticated operation (rate limits), 410 on a retry whose event retention
// removed, and every error code in the error schema's enum.
func TestOpenAPIDocumentsEveryStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.must(http.StatusOK, "GET", "/openapi.json", "", nil, nil)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Security    []map[string][]string      `json:"security"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	authed := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if len(op.Security) == 0 {
				continue
			}
			authed++
			if _, ok := op.Responses["429"]; !ok {
				t.Errorf("%s %s (%s) does not document 429", strings.ToUpper(method), path, op.OperationID)
			}
			if _, ok := op.Responses["410"]; ok != (op.OperationID == "retry-delivery") {
				t.Errorf("%s %s (%s) documents 410: %v, want it only on retry-delivery", strings.ToUpper(method), path, op.OperationID, ok)
			}
		}
	}
	if authed < 20 {
		t.Errorf("%d authenticated operations found, want the API's 20 or more", authed)
	}
	var enum []string
	for name, s := range doc.Components.Schemas {
		if code, ok := s.Properties["code"]; ok && len(code.Enum) > 0 {
			if enum != nil {
				t.Fatalf("two schemas with a code enum (%s)", name)
			}
			enum = code.Enum
		}
	}
	for _, code := range []string{herald.EMALFORMED, herald.EUNAUTHORIZED, herald.EFORBIDDEN, herald.ENOTFOUND,
		herald.ECONFLICT, herald.EGONE, herald.ETOOLARGE, herald.EINVALID, herald.ERATELIMITED, herald.EUNAVAILABLE, herald.EINTERNAL} {
		if !slices.Contains(enum, code) {
			t.Errorf("the error schema's code enum %v lacks %s", enum, code)
		}
	}
}
