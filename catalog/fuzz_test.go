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
