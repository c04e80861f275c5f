package catalog_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/heraldhq/herald"
)

// FuzzValidate feeds Validate arbitrary types and data. It must never panic, and must
// either accept a JSON object or refuse with an EINVALID *herald.Error.
func FuzzValidate(f *testing.F) {
	c := newCatalog(f)
	for _, et := range c.List() {
		f.Add(et.Type, []byte(et.Sample))
	}
	f.Add("drift.detected", []byte(`{"drift_id": 1e999999, "severity": "x"}`))
	f.Add("compliance.violation", []byte(`{"failed_resources": [{"resource_id": "a"}, 1, null]}`))
	f.Add("nope", []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		err := c.Validate(typ, data)
		if err == nil {
			var obj map[string]json.RawMessage
			if json.Unmarshal(data, &obj) != nil || obj == nil {
				t.Fatalf("Validate(%q, %q) accepted data that is not a JSON object", typ, data)
			}
			return
		}
		var herr *herald.Error
		if !errors.As(err, &herr) || herr.Code != herald.EINVALID || herr.Message == "" {
			t.Fatalf("Validate(%q, %q) = %#v, want an EINVALID *herald.Error with a message", typ, data, err)
		}
	})
}

// FuzzCheck feeds Check the custom event types an operator (or whoever holds the admin
// key) could send: arbitrary names, schemas and samples. It must never panic or hang,
// and must accept or refuse with EINVALID (or ECONFLICT for a taken name).
func FuzzCheck(f *testing.F) {
	c := newCatalog(f)
	f.Add("acme.thing", []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`), []byte(`{"n":1}`))
	f.Add("drift.detected", []byte(`{"type":"object"}`), []byte(`{}`))
	f.Add("acme.ref", []byte(`{"$ref":"https://example.com/s.json"}`), []byte(nil))
	f.Add("acme.file", []byte(`{"$ref":"file:///etc/passwd"}`), []byte(nil))
	f.Add("acme.loop", []byte(`{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`), []byte(`{}`))
	f.Add("acme.regex", []byte(`{"type":"object","properties":{"s":{"pattern":"(a+)+$"}}}`), []byte(`{"s":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}`))
	f.Add("acme.big", []byte(`{"type":"object","properties":{"n":{"multipleOf":1e-300,"maximum":1e308}}}`), []byte(`{"n":1e308}`))
	f.Add("", []byte(`[]`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, schema, sample []byte) {
		err := c.Check(herald.EventType{Type: typ, Schema: schema, Sample: sample})
		if err == nil {
			return
		}
		var herr *herald.Error
		if !errors.As(err, &herr) || (herr.Code != herald.EINVALID && herr.Code != herald.ECONFLICT) || herr.Message == "" {
			t.Fatalf("Check(%q, %q, %q) = %#v, want nil or an EINVALID/ECONFLICT *herald.Error", typ, schema, sample, err)
		}
	})
}
