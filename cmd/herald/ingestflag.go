package main

import (
	"strings"

	"github.com/heraldhq/herald/ingest"
)

// ingestFlag is --ingest: repeatable, and each value may hold several URLs separated by
// commas, as HERALD_INGEST does. Set only collects them: the flag package's error for a
// refused value quotes it, password and all, so sources checks them instead.
type ingestFlag []string

func (f *ingestFlag) String() string { return "" } // never shows a URL, which may hold a password

func (f *ingestFlag) Set(v string) error {
	for _, raw := range strings.Split(v, ",") {
		if raw = strings.TrimSpace(raw); raw != "" {
			*f = append(*f, raw)
		}
	}
	return nil
}

// sources parses every URL given; the error says which is wrong and why, without its
// password.
func (f ingestFlag) sources() ([]*ingest.Source, error) {
	out := make([]*ingest.Source, 0, len(f))
	for _, raw := range f {
		s, err := ingest.ParseSource(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
