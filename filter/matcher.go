package filter

import (
	"sync"

	"github.com/heraldhq/herald"
)

// MaxCached is how many compiled filters a Matcher keeps. Past it the cache starts
// over, so a store with more distinct filters than this only compiles again.
const MaxCached = 10_000

// Matcher is a herald.Matcher that compiles each distinct filter text once and keeps the
// program: filters are cached by their text, so an edited filter is a new entry and
// webhooks sharing a filter share its program. It is safe for concurrent use; the zero
// value is ready.
type Matcher struct {
	mu       sync.RWMutex
	compiled map[string]*Filter // nil for a text that does not compile
}

// NewMatcher returns an empty Matcher.
func NewMatcher() *Matcher { return &Matcher{} }

// Shared is the process's Matcher: the stores evaluate with it, and the API adds each
// filter it accepts, so the first event after a filter is saved does not compile it
// inside the publish transaction.
var Shared = NewMatcher()

// Add caches f, compiled already, under its text.
func (m *Matcher) Add(f *Filter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.compiled == nil || len(m.compiled) >= MaxCached {
		m.compiled = map[string]*Filter{}
	}
	m.compiled[f.text] = f
}

// For implements herald.Matcher.
func (m *Matcher) For(e *herald.Event) func(filter string) bool {
	var in *Input
	return func(text string) bool {
		f := m.Filter(text)
		if f == nil {
			return false
		}
		if in == nil {
			in = NewInput(e)
		}
		return f.Match(in)
	}
}

// Filter returns the compiled filter of text, or nil if it does not compile (a filter
// stored before a rule that now refuses it: it matches nothing).
func (m *Matcher) Filter(text string) *Filter {
	m.mu.RLock()
	f, ok := m.compiled[text]
	m.mu.RUnlock()
	if ok {
		return f
	}
	f, err := Compile(text)
	if err != nil {
		f = nil
	}
	m.mu.Lock()
	if m.compiled == nil || len(m.compiled) >= MaxCached {
		m.compiled = map[string]*Filter{}
	}
	m.compiled[text] = f
	m.mu.Unlock()
	return f
}

// Len returns how many filter texts the cache holds.
func (m *Matcher) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.compiled)
}
