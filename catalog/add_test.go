package catalog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
)

const invoiceSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "invoice_id": {"type": "string"},
    "amount": {"$ref": "#/$defs/money"}
  },
  "required": ["invoice_id", "amount"],
  "$defs": {"money": {"type": "number", "minimum": 0}}
}`

func invoiceType(typ string) herald.EventType {
	return herald.EventType{
		Type:        typ,
		Description: "An invoice is paid",
		Schema:      json.RawMessage(invoiceSchema),
		Sample:      json.RawMessage(`{"invoice_id": "inv_1", "amount": 10.50}`),
	}
}

func TestAdd(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	if err := c.Add(invoiceType("invoice.paid")); err != nil {
		t.Fatalf("Add: %v", err)
	}
	et, ok := c.Lookup("invoice.paid")
	if !ok {
		t.Fatal("Lookup after Add: not found")
	}
	if got, want := string(et.Sample), `{"invoice_id":"inv_1","amount":10.50}`; got != want {
		t.Errorf("Sample = %s, want %s (compacted, literals kept)", got, want)
	}
	if c.Builtin("invoice.paid") {
		t.Error("Builtin is true for a custom type")
	}
	if n := len(c.List()); n != 26 {
		t.Errorf("List has %d types, want 26", n)
	}
	if err := c.Validate("invoice.paid", json.RawMessage(`{"invoice_id":"inv_2","amount":-1}`)); err == nil ||
		!strings.HasPrefix(herald.ErrorMessage(err), "/data/amount: ") {
		t.Errorf("Validate through an internal $ref = %v, want a failure at /data/amount", err)
	}

	// The catalog hands out copies.
	et.Schema[0] = 'X'
	if again, _ := c.Lookup("invoice.paid"); again.Schema[0] != '{' {
		t.Error("changing a looked-up schema changed the catalog")
	}
}

func TestAddRefusals(t *testing.T) {
	t.Parallel()
	c := newCatalog(t, invoiceType("invoice.paid"))
	withSchema := func(typ, schema string) herald.EventType {
		return herald.EventType{Type: typ, Schema: json.RawMessage(schema)}
	}
	withSample := func(sample string) herald.EventType {
		et := invoiceType("invoice.sampled")
		et.Sample = json.RawMessage(sample)
		return et
	}
	tests := []struct {
		name    string
		t       herald.EventType
		code    string
		message string // a part of the Message
	}{
		{"built-in exists", invoiceType("drift.detected"), herald.ECONFLICT, `event type "drift.detected" already exists (built-in)`},
		{"ping exists", invoiceType("ping"), herald.ECONFLICT, `event type "ping" already exists (built-in)`},
		{"custom exists", invoiceType("invoice.paid"), herald.ECONFLICT, `event type "invoice.paid" already exists`},
		{"no name", invoiceType(""), herald.EINVALID, `event type name is required`},
		{"undotted", invoiceType("invoice"), herald.EINVALID, `invalid event type name "invoice"`},
		{"upper case", invoiceType("Invoice.Paid"), herald.EINVALID, `invalid event type name "Invoice.Paid"`},
		{"wildcard", invoiceType("*"), herald.EINVALID, `invalid event type name "*"`},
		{"empty segment", invoiceType("invoice..paid"), herald.EINVALID, `invalid event type name`},
		{"too long", invoiceType("a." + strings.Repeat("b", 127)), herald.EINVALID, `129 characters long; the limit is 128`},
		{"no schema", withSchema("invoice.x", ``), herald.EINVALID, `schema is required`},
		{"schema not JSON", withSchema("invoice.x", `{"type":`), herald.EINVALID, `schema is not valid JSON`},
		{"schema not object", withSchema("invoice.x", `true`), herald.EINVALID, `schema must be a JSON object, not a boolean`},
		{"bad schema", withSchema("invoice.x", `{"type": 5}`), herald.EINVALID, `schema is not a valid JSON Schema: /schema/type: `},
		{"bad pattern", withSchema("invoice.x", `{"properties": {"a": {"pattern": "("}}}`), herald.EINVALID,
			`schema is not a valid JSON Schema: /schema/properties/a/pattern: "(" is not a valid regex`},
		{"remote $ref", withSchema("invoice.x", `{"$ref": "https://example.com/schema.json"}`), herald.EINVALID,
			`schema refers to "https://example.com/schema.json": remote references are not allowed`},
		{"http $ref", withSchema("invoice.x", `{"properties": {"a": {"$ref": "http://127.0.0.1:1/s.json#/x"}}}`), herald.EINVALID,
			`schema refers to "http://127.0.0.1:1/s.json": remote references are not allowed`},
		{"remote via $id", withSchema("invoice.x", `{"$id": "https://example.com/a.json", "$ref": "b.json"}`), herald.EINVALID,
			`schema refers to "https://example.com/b.json": remote references are not allowed`},
		{"remote meta-schema", withSchema("invoice.x", `{"$schema": "https://example.com/meta"}`), herald.EINVALID,
			`schema refers to "https://example.com/meta": remote references are not allowed`},
		{"file $ref", withSchema("invoice.x", `{"$ref": "file:///etc/passwd"}`), herald.EINVALID,
			`schema refers to "file:///etc/passwd": file references are not allowed`},
		{"relative $ref", withSchema("invoice.x", `{"$ref": "other.json"}`), herald.EINVALID,
			`schema refers to "other.json", outside itself: only references within the schema are allowed`},
		{"missing $def", withSchema("invoice.x", `{"$ref": "#/$defs/nope"}`), herald.EINVALID, `schema does not compile: `},
		{"sample fails", withSample(`{"invoice_id": "inv_1", "amount": "ten"}`), herald.EINVALID,
			`sample does not match the schema: /sample/amount: got string, want number`},
		{"sample not object", withSample(`[1]`), herald.EINVALID, `sample does not match the schema: sample must be a JSON object, not an array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			herr := herror(t, c.Add(tt.t), tt.code)
			if !strings.Contains(herr.Message, tt.message) {
				t.Errorf("Message = %q\nwant it to contain %q", herr.Message, tt.message)
			}
			if _, ok := c.Lookup(tt.t.Type); ok && tt.code == herald.EINVALID {
				t.Errorf("refused type %q is in the catalog", tt.t.Type)
			}
		})
	}
}

func TestAddWithoutSample(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	for _, sample := range []string{``, `null`} {
		typ := "invoice.s" + fmt.Sprint(len(sample))
		et := invoiceType(typ)
		et.Sample = json.RawMessage(sample)
		if err := c.Add(et); err != nil {
			t.Fatalf("Add with sample %q: %v", sample, err)
		}
		if got, _ := c.Lookup(typ); got.Sample != nil {
			t.Errorf("sample %q stored as %s, want none", sample, got.Sample)
		}
	}
}

func TestNewRefusesConflictingCustomTypes(t *testing.T) {
	t.Parallel()
	c := newCatalog(t, invoiceType("invoice.paid"), invoiceType("invoice.voided"))
	if _, ok := c.Lookup("invoice.voided"); !ok {
		t.Error("custom type given to New is missing")
	}
	_, err := catalog.New(invoiceType("invoice.paid"), invoiceType("invoice.paid"))
	herror(t, err, herald.ECONFLICT)
	_, err = catalog.New(invoiceType("alert.created"))
	herror(t, err, herald.ECONFLICT)
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		// An event type document without "type": the file name gives it.
		"invoice.paid.json": `{"description": "An invoice is paid", "schema": ` + invoiceSchema +
			`, "sample": {"invoice_id": "inv_1", "amount": 10.50}}`,
		// The same document shape with a matching "type".
		"invoice.sent.json": `{"type": "invoice.sent", "schema": {"type": "object"}}`,
		// A bare JSON Schema: description and examples[0] give the rest.
		"invoice.voided.json": `{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"description": "An invoice is voided",
			"type": "object",
			"properties": {"invoice_id": {"type": "string"}, "refund": {"type": "number"}},
			"required": ["invoice_id"],
			"examples": [{"invoice_id": "inv_1", "refund": 3.10}, {"invoice_id": "inv_2"}]
		}`,
		"README.md":     "not a schema",
		".hidden.json":  "not even JSON",
		"nested.json/":  "",
		"notes.txt":     "{",
		"zz.other.json": `{"type": "object"}`,
	})
	c := newCatalog(t)
	added, err := c.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	want := []herald.EventType{
		{Type: "invoice.paid", Description: "An invoice is paid", Sample: json.RawMessage(`{"invoice_id":"inv_1","amount":10.50}`)},
		{Type: "invoice.sent"},
		{Type: "invoice.voided", Description: "An invoice is voided", Sample: json.RawMessage(`{"invoice_id":"inv_1","refund":3.10}`)},
		{Type: "zz.other"},
	}
	if len(added) != len(want) {
		t.Fatalf("LoadDir added %d types (%v), want %d", len(added), added, len(want))
	}
	for i, w := range want {
		got := added[i]
		if got.Type != w.Type || got.Description != w.Description || string(got.Sample) != string(w.Sample) {
			t.Errorf("added[%d] = {%q, %q, sample %s}, want {%q, %q, sample %s}",
				i, got.Type, got.Description, got.Sample, w.Type, w.Description, w.Sample)
		}
		if _, ok := c.Lookup(w.Type); !ok {
			t.Errorf("%s not in the catalog after LoadDir", w.Type)
		}
	}
	if err := c.Validate("invoice.voided", json.RawMessage(`{"refund": 1}`)); herald.ErrorMessage(err) != `/data: missing property "invoice_id"` {
		t.Errorf("Validate(invoice.voided) = %v, want a missing invoice_id", err)
	}
	// Loading the same directory again conflicts, and adds nothing.
	_, err = c.LoadDir(dir)
	herr := herror(t, err, herald.ECONFLICT)
	if !strings.Contains(herr.Message, filepath.Join(dir, "invoice.paid.json")) {
		t.Errorf("conflict message %q does not name the file", herr.Message)
	}
}

func TestLoadDirRefusals(t *testing.T) {
	t.Parallel()
	good := `{"type": "object"}`
	tests := []struct {
		name    string
		file    string
		body    string
		code    string
		message string
	}{
		{"not JSON", "bad.one.json", `{"type": `, herald.EINVALID, "not a JSON object"},
		{"not an object", "bad.one.json", `[]`, herald.EINVALID, "not a JSON object"},
		{"type differs from name", "bad.one.json", `{"type": "bad.two", "schema": {}}`, herald.EINVALID,
			`the file defines event type "bad.two" but is named for "bad.one"; name it bad.two.json`},
		{"bad name", "Bad.json", good, herald.EINVALID, `invalid event type name "Bad"`},
		{"bad schema", "bad.one.json", `{"type": "strin"}`, herald.EINVALID, "schema is not a valid JSON Schema: /schema/type"},
		{"remote ref", "bad.one.json", `{"$ref": "https://example.com/s.json"}`, herald.EINVALID, "remote references are not allowed"},
		{"file ref", "bad.one.json", `{"schema": {"$ref": "file:///etc/passwd"}}`, herald.EINVALID, "file references are not allowed"},
		{"example fails", "bad.one.json", `{"type": "object", "required": ["a"], "examples": [{}]}`, herald.EINVALID,
			`sample does not match the schema: /sample: missing property "a"`},
		{"examples not array", "bad.one.json", `{"type": "object", "examples": {}}`, herald.EINVALID, `"examples" must be an array`},
		{"description not string", "bad.one.json", `{"type": "object", "description": 5}`, herald.EINVALID, `"description" must be a string`},
		{"built-in exists", "ping.json", good, herald.ECONFLICT, `event type "ping" already exists (built-in)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, map[string]string{tt.file: tt.body, "aaa.good.json": good, "zzz.good.json": good})
			c := newCatalog(t)
			added, err := c.LoadDir(dir)
			herr := herror(t, err, tt.code)
			if want := filepath.Join(dir, tt.file) + ": "; !strings.HasPrefix(herr.Message, want) {
				t.Errorf("Message = %q, want it to start with the file, %q", herr.Message, want)
			}
			if !strings.Contains(herr.Message, tt.message) {
				t.Errorf("Message = %q\nwant it to contain %q", herr.Message, tt.message)
			}
			if added != nil || len(c.List()) != 25 {
				t.Errorf("LoadDir added %v (catalog has %d types); want nothing added", added, len(c.List()))
			}
		})
	}
}

func TestLoadDirMissing(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	_, err := c.LoadDir(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDir(missing) = %v, want a not-exist error", err)
	}
}

// TestConcurrentUse runs readers and writers at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newCatalog(t)
	sample, _ := c.Lookup("drift.detected")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := c.Add(invoiceType(fmt.Sprintf("invoice.g%d_%d", g, i))); err != nil {
					t.Errorf("Add: %v", err)
				}
				if err := c.Validate("drift.detected", sample.Sample); err != nil {
					t.Errorf("Validate: %v", err)
				}
				if err := c.Validate(fmt.Sprintf("invoice.g%d_%d", g, i), json.RawMessage(`{"invoice_id":"a","amount":1}`)); err != nil {
					t.Errorf("Validate custom: %v", err)
				}
				_ = c.List()
			}
		})
	}
	wg.Wait()
	if n := len(c.List()); n != 25+40 {
		t.Errorf("List has %d types, want 65", n)
	}
}

func ExampleCatalog_Validate() {
	c, err := catalog.New()
	if err != nil {
		panic(err)
	}
	err = c.Validate("drift.detected", json.RawMessage(`{"drift_id": 55, "severity": "urgent"}`))
	fmt.Println(herald.ErrorCode(err))
	fmt.Println(herald.ErrorMessage(err))
	// Output:
	// VALIDATION_FAILED
	// /data/severity: value must be one of "critical", "high", "medium", "low", "warning"
}
