package filter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/filter"
)

func event(typ, data string, channels ...string) *herald.Event {
	return &herald.Event{ID: "evt_1", TenantID: "acme", Type: typ, Data: json.RawMessage(data), Channels: channels}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	e := event("drift.detected", `{"severity":"critical","resource_type":"s3_bucket","count":7,"tags":["a","b"],"nested":{"x":1}}`, "prod", "eu")
	tests := []struct {
		filter string
		want   bool
	}{
		{`data.severity == "critical" && data.resource_type.startsWith("s3")`, true},
		{`data.severity == "low"`, false},
		{`data.count > 5`, true},
		{`data.count == 7`, true},
		{`data.count < 5`, false},
		{`"prod" in channels`, true},
		{`"us" in channels`, false},
		{`tenant_id == "acme"`, true},
		{`type.startsWith("drift.")`, true},
		{`data.tags.exists(t, t == "b")`, true},
		{`data.nested.x == 1`, true},
		{`has(data.missing)`, false},
		{`data.missing == "x"`, false}, // an evaluation error: no match
		{`data.severity`, false},       // a string, not a bool: no match
		{`data["severity"] == "critical"`, true},
	}
	in := filter.NewInput(e)
	for _, tt := range tests {
		f, err := filter.Compile(tt.filter)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.filter, err)
		}
		if got := f.Match(in); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter string
		want   []string // in the message
	}{
		{`data.severity == `, []string{"line 1, column", "does not compile"}},
		{`severity == "critical"`, []string{"undeclared reference to 'severity'", "line 1, column 1"}},
		{"type == \"a\" &&\n  foo", []string{"line 2, column 3"}},
		{`1 + 2`, []string{"must evaluate to a bool", "int"}},
		{`type + "x"`, []string{"must evaluate to a bool", "string"}},
		{`data.a.all(x, data.b.all(y, x == y))`, []string{"too costly"}},
		{`   `, []string{"empty"}},
		{strings.Repeat("a", filter.MaxLength+1), []string{"limit is 4096"}},
	}
	for _, tt := range tests {
		_, err := filter.Compile(tt.filter)
		if err == nil {
			t.Errorf("Compile(%q) = nil error, want one", tt.filter)
			continue
		}
		if herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("Compile(%q): code %s, want %s", tt.filter, herald.ErrorCode(err), herald.EINVALID)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Compile(%q) = %q, want it to contain %q", tt.filter, err, w)
			}
		}
	}
}

func TestSinglePassOverDataIsAllowed(t *testing.T) {
	t.Parallel()
	for _, f := range []string{
		`data.items.exists(i, i.sku == "x")`,
		`data.items.all(i, i.price < 100) && data.name.contains("s3")`,
		`data.name.matches("^s3-.*$")`,
	} {
		if _, err := filter.Compile(f); err != nil {
			t.Errorf("Compile(%q): %v", f, err)
		}
	}
}

func TestCostLimitStopsEvaluation(t *testing.T) {
	t.Parallel()
	items := make([]int, 200_000)
	b, _ := json.Marshal(map[string]any{"items": items})
	f, err := filter.Compile(`data.items.exists(i, i < 0)`)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.Eval(filter.NewInput(event("a.b", string(b))))
	if err == nil || ok {
		t.Fatalf("Eval over 200,000 items = %v, %v; want the cost limit's error", ok, err)
	}
	if !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("Eval error = %v, want the cost limit", err)
	}
}

func TestCheckFields(t *testing.T) {
	t.Parallel()
	drift := json.RawMessage(`{"type":"object","properties":{"severity":{"type":"string"},"resource":{"type":"object","properties":{"kind":{"type":"string"}}},"extra":{"type":"object"},"ref":{"$ref":"#/$defs/r"}},"$defs":{"r":{"type":"object","properties":{"id":{"type":"string"}}}}}`)
	cost := json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}}}`)
	free := json.RawMessage(`{"type":"object"}`)
	tests := []struct {
		filter  string
		schemas []json.RawMessage
		missing string // "" for accepted
	}{
		{`data.severity == "x"`, []json.RawMessage{drift}, ""},
		{`data.severty == "x"`, []json.RawMessage{drift}, "data.severty"},
		{`data.resource.kind == "x"`, []json.RawMessage{drift}, ""},
		{`data.resource.knd == "x"`, []json.RawMessage{drift}, "data.resource.knd"},
		{`data["resource"]["knd"] == "x"`, []json.RawMessage{drift}, "data.resource.knd"},
		{`data.extra.anything == "x"`, []json.RawMessage{drift}, ""},
		{`data.ref.id == "x"`, []json.RawMessage{drift}, ""},
		{`data.ref.nope == "x"`, []json.RawMessage{drift}, "data.ref.nope"},
		{`data.amount > 5.0`, []json.RawMessage{drift, cost}, ""},
		{`data.amount > 5.0`, []json.RawMessage{drift}, "data.amount"},
		{`data.anything == 1`, []json.RawMessage{free}, ""},
		{`data.anything == 1`, nil, ""},
		{`type == "x"`, []json.RawMessage{drift}, ""},
		{`has(data.sevrity)`, []json.RawMessage{drift}, "data.sevrity"},
	}
	for _, tt := range tests {
		f, err := filter.Compile(tt.filter)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.filter, err)
		}
		err = f.CheckFields(tt.schemas)
		switch {
		case tt.missing == "" && err != nil:
			t.Errorf("CheckFields(%q) = %v, want nil", tt.filter, err)
		case tt.missing != "" && (err == nil || !strings.Contains(err.Error(), tt.missing+",")):
			t.Errorf("CheckFields(%q) = %v, want an error naming %s", tt.filter, err, tt.missing)
		case err != nil && herald.ErrorCode(err) != herald.EINVALID:
			t.Errorf("CheckFields(%q) code = %s, want EINVALID", tt.filter, herald.ErrorCode(err))
		}
	}
}

func TestMatcherCaches(t *testing.T) {
	t.Parallel()
	m := filter.NewMatcher()
	e := event("a.b", `{"n":1}`)
	match := m.For(e)
	if !match(`data.n == 1`) || match(`data.n == 2`) || match(`not CEL (`) {
		t.Fatal("matcher results wrong")
	}
	m.For(e)(`data.n == 1`)
	if m.Len() != 3 {
		t.Fatalf("cache holds %d filters, want 3 (each text once)", m.Len())
	}
}

func TestMatcherConcurrent(t *testing.T) {
	t.Parallel()
	m := filter.NewMatcher()
	e := event("a.b", `{"n":1}`)
	done := make(chan bool)
	for g := range 4 {
		go func() {
			ok := true
			for i := range 50 {
				match := m.For(e)
				ok = ok && match(fmt.Sprintf(`data.n == 1 && type != "x%d"`, (g*50+i)%20))
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("a concurrent match failed")
		}
	}
	if m.Len() != 20 {
		t.Errorf("cache holds %d filters, want the 20 distinct texts", m.Len())
	}
}
