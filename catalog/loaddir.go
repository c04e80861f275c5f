package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald"
)

// LoadDir adds the custom event types defined by the <type>.json files in dir (not its
// subdirectories; files whose names start with a dot are skipped) and returns them,
// sorted by type.
//
// A file is either an event type document, {"type", "description", "schema", "sample"},
// recognised by its "schema" member ("type" may be left out; if given it must match the
// file name), or a bare JSON Schema, whose type is the file name, whose description is
// the schema's "description" and whose sample is its "examples"[0], if any.
//
// LoadDir adds all the files or none: if any file cannot be read, is invalid (EINVALID)
// or names a type that exists (ECONFLICT), it returns an error naming the file and the
// catalog is unchanged.
func (c *Catalog) LoadDir(dir string) ([]herald.EventType, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("catalog: read event type directory: %w", err)
	}
	var entries []*entry
	paths := make(map[string]string) // type → file, for messages
	for _, f := range files {
		name := f.Name()
		if f.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(dir, name)
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("catalog: read event type file: %w", err)
		}
		t, err := parseFile(name, data)
		if err != nil {
			return nil, inFile(file, err)
		}
		e, err := prepare(t)
		if err != nil {
			return nil, inFile(file, err)
		}
		entries = append(entries, e)
		paths[e.typ.Type] = file
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries { // os.ReadDir sorts by file name, so by type
		if err := c.conflict(e.typ.Type); err != nil {
			return nil, inFile(paths[e.typ.Type], err)
		}
	}
	added := make([]herald.EventType, len(entries))
	for i, e := range entries {
		c.types[e.typ.Type] = e
		added[i] = clone(e.typ)
	}
	return added, nil
}

// parseFile reads an event type from the contents of the file called name (see
// LoadDir for the two shapes). It does not check the schema; prepare does.
func parseFile(name string, data []byte) (herald.EventType, error) {
	typ := strings.TrimSuffix(name, ".json")
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return herald.EventType{}, herald.Errorf(herald.EINVALID, "not a JSON object: %v", err)
	}

	if _, ok := members["schema"]; ok {
		var t herald.EventType
		if err := json.Unmarshal(data, &t); err != nil {
			return herald.EventType{}, herald.Errorf(herald.EINVALID, "not an event type document: %v", err)
		}
		switch t.Type {
		case "":
			t.Type = typ
		case typ:
		default:
			return herald.EventType{}, herald.Errorf(herald.EINVALID,
				"the file defines event type %q but is named for %q; name it %s.json", t.Type, typ, t.Type)
		}
		return t, nil
	}

	t := herald.EventType{Type: typ, Schema: data}
	if raw, ok := members["description"]; ok {
		if err := json.Unmarshal(raw, &t.Description); err != nil {
			return herald.EventType{}, herald.Errorf(herald.EINVALID, `the schema's "description" must be a string`)
		}
	}
	if raw, ok := members["examples"]; ok {
		var examples []json.RawMessage
		if err := json.Unmarshal(raw, &examples); err != nil {
			return herald.EventType{}, herald.Errorf(herald.EINVALID, `the schema's "examples" must be an array`)
		}
		if len(examples) > 0 {
			t.Sample = examples[0]
		}
	}
	return t, nil
}

// inFile prefixes an error's message with the file it is about, keeping its code.
func inFile(file string, err error) error {
	var herr *herald.Error
	if errors.As(err, &herr) {
		return &herald.Error{Code: herr.Code, Message: file + ": " + herr.Message, Details: herr.Details}
	}
	return fmt.Errorf("%s: %w", file, err)
}
