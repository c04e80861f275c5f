package filter_test

import (
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/filter"
)

// FuzzFilter feeds arbitrary text to Compile, and what compiles to CheckFields and to an
// evaluation: none may panic, a refusal is always EINVALID, and an evaluation always
// ends (the cost limit).
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`data.severity == "critical" && data.resource_type.startsWith("s3")`,
		`"prod" in channels || tenant_id == "acme"`,
		`data.items.exists(i, i.sku == "x")`,
		`data["a"]["b"] > 1.5`,
		`has(data.x) ? data.x : false`,
		`type.matches("^drift\\.")`,
		`[1,2,3].all(x, x > 0)`,
		`data.a.all(x, data.b.all(y, x == y))`,
		`)(`, "\x00", `"\xff"`,
	} {
		f.Add(s)
	}
	schema := json.RawMessage(`{"type":"object","properties":{"severity":{"type":"string"},"a":{"type":"object","properties":{"b":{"type":"number"}}},"items":{"type":"array"}}}`)
	e := &herald.Event{Type: "drift.detected", TenantID: "acme", Channels: []string{"prod"},
		Data: json.RawMessage(`{"severity":"critical","a":{"b":2},"items":[{"sku":"x"}],"resource_type":"s3"}`)}
	in := filter.NewInput(e)
	f.Fuzz(func(t *testing.T, text string) {
		flt, err := filter.Compile(text)
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("Compile(%q) error code %s, want EINVALID: %v", text, herald.ErrorCode(err), err)
			}
			return
		}
		if err := flt.CheckFields([]json.RawMessage{schema}); err != nil && herald.ErrorCode(err) != herald.EINVALID {
			t.Fatalf("CheckFields(%q) error code %s, want EINVALID", text, herald.ErrorCode(err))
		}
		flt.Match(in)
	})
}
