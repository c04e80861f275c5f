package catalog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
)

// builtinTypes are the 25 seed event types (the product specification, section 2).
var builtinTypes = []string{
	// InfraAudit
	"drift.detected", "drift.resolved", "alert.created", "vulnerability.found",
	"compliance.violation", "cost.anomaly", "job.completed", "remediation.completed", "ping",
	// Frugally
	"execution.started", "execution.completed", "execution.failed", "schedule.activated",
	"schedule.paused", "budget.threshold_breached", "budget.exceeded", "violation.created",
	"violation.resolved", "scan.completed", "finding.created", "anomaly.detected",
	"connection.health_changed", "access_request.submitted", "access_request.approved",
	"access_request.denied",
}

// seedFixture is the testdata/seeds file holding the seed example of each type. The
// Frugally page gives one example for both access_request.approved and .denied.
func seedFixture(typ string) string {
	if typ == "access_request.denied" {
		typ = "access_request.approved"
	}
	return filepath.Join("testdata", "seeds", typ+".json")
}

func newCatalog(t testing.TB, custom ...herald.EventType) *catalog.Catalog {
	t.Helper()
	c, err := catalog.New(custom...)
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	return c
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compact returns b compacted; json.Compact keeps number literals as they are written.
func compact(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return buf.String()
}

// herror returns err as an *herald.Error with the wanted code, or fails the test.
func herror(t testing.TB, err error, code string) *herald.Error {
	t.Helper()
	var herr *herald.Error
	if !errors.As(err, &herr) {
		t.Fatalf("got error %v (%T), want a *herald.Error with code %s", err, err, code)
	}
	if herr.Code != code {
		t.Fatalf("got code %s (%q), want %s", herr.Code, herr.Message, code)
	}
	return herr
}

func TestBuiltinTypes(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)

	list := c.List()
	var got []string
	for _, et := range list {
		got = append(got, et.Type)
	}
	want := slices.Sorted(slices.Values(builtinTypes))
	if !slices.Equal(got, want) {
		t.Fatalf("List() types = %v\nwant %v (sorted)", got, want)
	}

	for _, et := range list {
		if !c.Builtin(et.Type) {
			t.Errorf("Builtin(%q) = false, want true", et.Type)
		}
		if et.Description == "" {
			t.Errorf("%s: empty description", et.Type)
		}
		var schema struct {
			Schema string `json:"$schema"`
			Type   string `json:"type"`
		}
		if err := json.Unmarshal(et.Schema, &schema); err != nil {
			t.Fatalf("%s: schema: %v", et.Type, err)
		}
		if schema.Schema != "https://json-schema.org/draft/2020-12/schema" || schema.Type != "object" {
			t.Errorf("%s: $schema %q, type %q; want draft 2020-12 and object", et.Type, schema.Schema, schema.Type)
		}
		if err := c.Validate(et.Type, et.Sample); err != nil {
			t.Errorf("%s: sample does not validate: %v", et.Type, err)
		}
	}
	if c.Builtin("invoice.paid") {
		t.Error(`Builtin("invoice.paid") = true for an unknown type`)
	}
}

func TestBuiltinDescriptions(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for typ, want := range map[string]string{
		"drift.detected":        "Fired when a new drift finding is detected.",
		"ping":                  "Sent when you register a new webhook or trigger a test delivery from the API or UI.",
		"execution.started":     "An Execution begins running",
		"access_request.denied": "An access request is denied",
	} {
		et, ok := c.Lookup(typ)
		if !ok || et.Description != want {
			t.Errorf("Lookup(%q).Description = %q, want the seed's trigger sentence %q", typ, et.Description, want)
		}
	}
}

// TestSamplesAreSeedExamples checks each built-in sample is its seed example's data,
// number literals (452.30, 5000.00) byte for byte.
func TestSamplesAreSeedExamples(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for _, typ := range builtinTypes {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			et, _ := c.Lookup(typ)
			want := compact(t, readFile(t, seedFixture(typ)))
			if typ == "access_request.denied" {
				want = strings.Replace(want, `"decision":"approved"`, `"decision":"denied"`, 1)
				want = strings.Replace(want, `"note":"Approved for Q2."`, `"note":"Denied for Q2."`, 1)
			}
			if got := string(et.Sample); got != want {
				t.Errorf("sample\n got %s\nwant %s", got, want)
			}
		})
	}
	et, _ := c.Lookup("budget.exceeded")
	if !bytes.Contains(et.Sample, []byte(`"amount":5000.00`)) {
		t.Errorf("budget.exceeded sample lost the literal 5000.00: %s", et.Sample)
	}
}

// TestSeedExamplesValidate validates the seed pages' examples, kept verbatim in
// testdata/seeds, against their types.
func TestSeedExamplesValidate(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for _, typ := range builtinTypes {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			if err := c.Validate(typ, readFile(t, seedFixture(typ))); err != nil {
				t.Errorf("seed example of %s does not validate: %v", typ, err)
			}
		})
	}
}

// TestSchemasDeclareSeedFields checks the specification's schema rules against the seed
// examples: every field is declared with its JSON type (integer for whole-number
// literals, number for the rest) and required; for execution.*, every field of the three
// examples is declared on each and only the fields common to all three are required.
func TestSchemasDeclareSeedFields(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	executions := []string{"execution.started", "execution.completed", "execution.failed"}
	for _, typ := range builtinTypes {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			et, _ := c.Lookup(typ)
			var schema fieldSchema
			if err := json.Unmarshal(et.Schema, &schema); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(typ, "execution.") {
				checkFields(t, "", &schema, decodeNumbers(t, readFile(t, seedFixture(typ))), true)
				return
			}
			var examples []map[string]any
			for _, x := range executions {
				ex := decodeNumbers(t, readFile(t, seedFixture(x))).(map[string]any)
				examples = append(examples, ex)
				checkFields(t, "", &schema, ex, false)
			}
			var common []string
			for k := range examples[0] {
				if examples[1][k] != nil && examples[2][k] != nil {
					common = append(common, k)
				}
			}
			slices.Sort(common)
			required := slices.Sorted(slices.Values(schema.Required))
			if !slices.Equal(required, common) {
				t.Errorf("required = %v, want the fields common to all three examples %v", required, common)
			}
		})
	}
}

type fieldSchema struct {
	Type       string                  `json:"type"`
	Properties map[string]*fieldSchema `json:"properties"`
	Required   []string                `json:"required"`
	Items      *fieldSchema            `json:"items"`
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func checkFields(t *testing.T, at string, s *fieldSchema, v any, requireAll bool) {
	t.Helper()
	want := ""
	switch v := v.(type) {
	case map[string]any:
		want = "object"
		for k, x := range v {
			p := s.Properties[k]
			if p == nil {
				t.Errorf("%s/%s: not declared", at, k)
				continue
			}
			if requireAll && !slices.Contains(s.Required, k) {
				t.Errorf("%s/%s: not required", at, k)
			}
			checkFields(t, at+"/"+k, p, x, true)
		}
	case []any:
		want = "array"
		if s.Items == nil {
			t.Errorf("%s: array without an item schema", at)
		} else {
			for _, x := range v {
				checkFields(t, at+"/items", s.Items, x, true)
			}
		}
	case json.Number:
		want = "integer"
		if strings.ContainsAny(string(v), ".eE") {
			want = "number"
		}
	case string:
		want = "string"
	case bool:
		want = "boolean"
	}
	if s.Type != want {
		t.Errorf("%s: declared %q, want %q", at, s.Type, want)
	}
}

// mutate returns typ's sample with change applied to its decoded form.
func mutate(t *testing.T, c *catalog.Catalog, typ string, change func(map[string]any)) json.RawMessage {
	t.Helper()
	et, ok := c.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	data := decodeNumbers(t, et.Sample).(map[string]any)
	change(data)
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateMutations(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	tests := []struct {
		name    string
		typ     string
		change  func(map[string]any)
		message string // the whole Message; "" for valid data
	}{
		{"missing required", "drift.detected", del("drift_id"), `/data: missing property "drift_id"`},
		{"bad severity", "drift.detected", set("severity", "urgent"),
			`/data/severity: value must be one of "critical", "high", "medium", "low", "warning"`},
		{"string for integer", "drift.detected", set("drift_id", "55"), `/data/drift_id: got string, want integer`},
		{"fraction for integer", "drift.detected", set("drift_id", 55.5), `/data/drift_id: got number, want integer`},
		{"bad date-time", "drift.detected", set("detected_at", "yesterday"),
			`/data/detected_at: "yesterday" is not a valid date-time: less than 20 characters long`},
		{"nested item type", "compliance.violation", func(m map[string]any) {
			m["failed_resources"] = []any{map[string]any{"resource_id": "five", "resource_name": "x"}}
		}, `/data/failed_resources/0/resource_id: got string, want integer`},
		{"nested item missing", "compliance.violation", set("failed_resources", []any{map[string]any{"resource_id": 5}}),
			`/data/failed_resources/0: missing property "resource_name"`},
		{"object for array", "compliance.violation", set("failed_resources", map[string]any{}),
			`/data/failed_resources: got object, want array`},
		{"nested object missing", "scan.completed", func(m map[string]any) {
			delete(m["findings_by_severity"].(map[string]any), "high")
		}, `/data/findings_by_severity: missing property "high"`},
		{"scan status", "scan.completed", set("status", "running"), `/data/status: value must be one of "completed", "failed"`},
		{"job status", "job.completed", set("status", "running"), `/data/status: value must be one of "succeeded", "failed"`},
		{"job failed", "job.completed", set("status", "failed"), ""},
		{"remediation status", "remediation.completed", set("status", "done"),
			`/data/status: value must be one of "completed", "failed"`},
		{"trigger", "execution.failed", set("trigger", "cron"), `/data/trigger: value must be one of "schedule", "manual"`},
		{"execution optional field", "execution.failed", del("error_code"), ""},
		{"execution common field", "execution.completed", del("execution_id"), `/data: missing property "execution_id"`},
		{"execution union field type", "execution.started", set("duration_seconds", "45s"),
			`/data/duration_seconds: got string, want integer`},
		{"decision", "access_request.denied", set("decision", "maybe"), `/data/decision: value must be one of "approved", "denied"`},
		{"connection status", "connection.health_changed", set("new_status", "on fire"),
			`/data/new_status: value must be one of "connected", "degraded", "disconnected", "error", "pending"`},
		{"currency", "cost.anomaly", set("currency", "usd"), `/data/currency: 'usd' does not match pattern '^[A-Z]{3}$'`},
		{"integer for number", "cost.anomaly", set("actual_amount", 452), ""},
		{"string for number", "cost.anomaly", set("actual_amount", "452.30"), `/data/actual_amount: got string, want number`},
		{"cvss range", "vulnerability.found", set("cvss_score", 11), `/data/cvss_score: maximum: got 11, want 10`},
		{"date", "anomaly.detected", set("period_start", "10/03/2025"),
			`/data/period_start: "10/03/2025" is not a valid date: parsing time "10/03/2025" as "2006-01-02": cannot parse "10/03/2025" as "2006"`},
		{"email", "access_request.submitted", set("requested_by_email", "charlie"),
			`/data/requested_by_email: "charlie" is not a valid email: missing @`},
		{"ping message type", "ping", set("message", 5), `/data/message: got number, want string`},
		{"null field", "ping", set("webhook_id", nil), `/data/webhook_id: got null, want string`},
		{"extra property", "ping", set("extra", true), ""},
		{"escaped pointer", "ping", set("a/b~c", map[string]any{}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Validate(tt.typ, mutate(t, c, tt.typ, tt.change))
			if tt.message == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			herr := herror(t, err, herald.EINVALID)
			if herr.Message != tt.message {
				t.Errorf("Message = %q\n         want %q", herr.Message, tt.message)
			}
		})
	}
}

func TestValidateSeveralErrors(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	data := `{"drift_id": "x", "severity": "bad", "detected_at": "2024-01-15T14:30:00Z",
		"drift_type": "security", "resource_id": 5, "resource_name": "b", "resource_type": "s3_bucket",
		"summary": "s"}`
	herr := herror(t, c.Validate("drift.detected", json.RawMessage(data)), herald.EINVALID)
	// All three fail at the same or shallower depth; the deepest leaves come first and
	// ties go by pointer, so the Message does not depend on map iteration order.
	if want := `/data/drift_id: got string, want integer`; herr.Message != want {
		t.Errorf("Message = %q, want %q", herr.Message, want)
	}
	for _, want := range []string{
		`/data/drift_id: got string, want integer`,
		`/data/severity: value must be one of`,
		`/data: missing property "provider_id"`,
	} {
		if !strings.Contains(herr.Details, want) {
			t.Errorf("Details = %q, want it to contain %q", herr.Details, want)
		}
	}
}

func TestValidateRefusals(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	tests := []struct {
		name, typ, data, message string
	}{
		{"unknown type", "invoice.paid", `{}`, `unknown event type "invoice.paid"; GET /api/v1/event-types lists the known types`},
		{"empty", "ping", ``, `data is required: a JSON object`},
		{"array", "ping", `[]`, `data must be a JSON object, not an array`},
		{"string", "ping", `"hi"`, `data must be a JSON object, not a string`},
		{"null", "ping", `null`, `data must be a JSON object, not null`},
		{"not JSON", "ping", `{"a":`, `data is not valid JSON: unexpected EOF`},
		{"trailing data", "ping", `{} {}`, `data is not valid JSON: unexpected data after the JSON value`},
		{"huge exponent", "ping", `{"webhook_id":"w","message":"m","n":[1, 1.5e999999]}`,
			`/data/n/1: number is out of range (at most 256 characters and an exponent within ±1000)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			herr := herror(t, c.Validate(tt.typ, json.RawMessage(tt.data)), herald.EINVALID)
			if herr.Message != tt.message {
				t.Errorf("Message = %q\n         want %q", herr.Message, tt.message)
			}
		})
	}
}

func TestCheckDoesNotAdd(t *testing.T) {
	t.Parallel()
	c, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	good := herald.EventType{Type: "order.created", Schema: json.RawMessage(`{"type":"object"}`)}
	if err := c.Check(good); err != nil {
		t.Fatalf("check of a good type: %v", err)
	}
	if _, ok := c.Lookup("order.created"); ok {
		t.Fatal("Check added the type")
	}
	bad := herald.EventType{Type: "order.created", Schema: json.RawMessage(`{"type":"nope"}`)}
	if code := herald.ErrorCode(c.Check(bad)); code != herald.EINVALID {
		t.Fatalf("check of a bad schema: code %q, want EINVALID", code)
	}
	if code := herald.ErrorCode(c.Check(herald.EventType{Type: "drift.detected", Schema: good.Schema})); code != herald.ECONFLICT {
		t.Fatalf("check of a built-in type's name: code %q, want ECONFLICT", code)
	}
}
