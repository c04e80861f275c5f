package httpapi

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// BenchmarkCheckStructure measures the strict body checks on a 16 MiB batch-sized body
// of seed-like events: the most they add to any request.
func BenchmarkCheckStructure(b *testing.B) {
	item := `{"type":"drift.detected","id":"evt_1","data":{"drift_id":55,"drift_type":"security","severity":"critical",` +
		`"resource_id":5,"resource_name":"data-lake-bucket","summary":"BlockPublicAcls changed from true to false","tags":["a","b"]}}`
	body := `{"events":[` + strings.Repeat(item+",", (16<<20)/(len(item)+1)-1) + item + `]}`
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkStructure([]byte(body), "the body", maxBodyDepth); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckStructurePointers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{"a/b":{"c~d":[0,{"x":1,"x":2}]}}`, `/a~1b/c~0d/1/x`},
		{`[1,"a,b",{"k\"":1,"k\"":1}]`, `/2/k"`},
		{`{"a":"{[","a":1}`, `/a`},
	} {
		err := checkStructure([]byte(tt.in), "the body", 10)
		se, ok := err.(*structureError)
		if !ok || se.Pointer != tt.want {
			t.Errorf("checkStructure(%s) = %v, want a duplicate at %s", tt.in, err, tt.want)
		}
	}
	if err := checkStructure([]byte(`{"a":[{"b":"]}}]"}],"c":{"a":1}}`), "the body", 3); err != nil {
		t.Errorf("valid body refused: %v", err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(10) // refills in 2 s
	now := time.Unix(1_700_000_000, 0)
	for i := range maxBuckets + 500 {
		l.take(strconv.Itoa(i), now)
	}
	if n := l.size(); n != maxBuckets {
		t.Fatalf("%d buckets kept, want the cap %d", n, maxBuckets)
	}
	// Keys past the cap share one bucket: limited together, not let through.
	for range l.burst {
		l.take("late-1", now)
	}
	if _, ok := l.take("late-2", now); ok {
		t.Error("a key past the cap was let through with the overflow bucket empty")
	}
	// Idle buckets, full again, are dropped at the next sweep.
	later := now.Add(sweepEvery + 5*time.Second)
	l.take("fresh", later)
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after the idle ones refilled, want 1", n)
	}
}

// FuzzCheckStructure runs the strict body checks on arbitrary JSON texts: no panic, and
// their verdict agrees with a plain decode (a text it passes decodes, and one whose keys
// it says are unique re-encodes with the same number of keys).
func FuzzCheckStructure(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"\u0063":2}]}}`, `[[[[[[[[[[1]]]]]]]]]]`, `"\ud800"`,
		`{"a\"b":1,"a\\\"b":2}`, "{\"a\":\"\xff\"}", `{"":1,"":2}`, `{"~/":{"~/":1}}`, `1e999999`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // strictUnmarshal only scans what encoding/json accepted
		}
		err := checkStructure(data, "the body", 8)
		if err == nil {
			if !utf8.Valid(data) {
				t.Fatalf("checkStructure(%q) passed invalid UTF-8", data)
			}
			if keys, unique := countKeys(data); keys != unique {
				t.Fatalf("checkStructure(%q) passed %d keys of which only %d are unique", data, keys, unique)
			}
			return
		}
		var se *structureError
		if !errors.As(err, &se) || (se.Pointer != "" && !strings.HasPrefix(se.Pointer, "/")) {
			t.Fatalf("checkStructure(%q) = %#v, want a *structureError with a JSON pointer", data, err)
		}
	})
}

// countKeys counts the object keys in a JSON text as written and as encoding/json keeps
// them (the last duplicate winning), within one object at a time.
func countKeys(data []byte) (written, kept int) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	type obj struct {
		keys   map[string]bool
		object bool
		key    bool
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err != nil {
			return written, kept
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &obj{keys: map[string]bool{}, object: v == '{', key: v == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
			continue
		case string:
			if top != nil && top.object && top.key {
				written++
				if !top.keys[v] {
					kept++
				}
				top.keys[v] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
