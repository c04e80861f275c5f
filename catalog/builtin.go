package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
)

// schemaFiles holds the built-in event types, one schemas/<type>.json document each:
// {"type", "description", "schema", "sample"}.
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// builtins parses and compiles the embedded event types once per process; every Catalog
// shares the result (entries are immutable). An error here is a bug in an embedded file,
// which the package's tests catch.
var builtins = sync.OnceValues(func() ([]*entry, error) {
	names, err := fs.Glob(schemaFiles, "schemas/*.json")
	if err != nil {
		return nil, fmt.Errorf("catalog: built-in event types: %w", err)
	}
	entries := make([]*entry, 0, len(names))
	for _, name := range names {
		data, err := schemaFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("catalog: built-in event types: %w", err)
		}
		t, err := parseFile(path.Base(name), data)
		if err != nil {
			return nil, fmt.Errorf("catalog: built-in event types: %w", err)
		}
		e, err := prepare(t)
		if err != nil {
			return nil, fmt.Errorf("catalog: built-in event type %s: %w", strings.TrimSuffix(path.Base(name), ".json"), err)
		}
		e.builtin = true
		entries = append(entries, e)
	}
	return entries, nil
})
