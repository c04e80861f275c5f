package catalog

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/heraldhq/herald"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxTypeLength is the longest event type name the catalog accepts.
const MaxTypeLength = 128

// typeName is the shape of an event type name: lowercase, dotted, at least two segments
// ("invoice.paid", "budget.threshold_breached"). The one exception is herald.PingType.
var typeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// Catalog is a set of event types with their compiled schemas. The zero value is not
// usable; call New. A Catalog is safe for concurrent use.
type Catalog struct {
	mu    sync.RWMutex
	types map[string]*entry
}

// entry is one event type and its compiled schema. Entries are never modified once
// built, so they (and their compiled schemas) are shared freely between readers and
// between catalogs.
type entry struct {
	typ     herald.EventType
	schema  *jsonschema.Schema
	builtin bool
}

// New returns a catalog of the 25 built-in seed event types plus the given custom ones.
// It fails as Add does if a custom type is invalid or repeats another.
func New(custom ...herald.EventType) (*Catalog, error) {
	builtin, err := builtins()
	if err != nil {
		return nil, err
	}
	c := &Catalog{types: make(map[string]*entry, len(builtin)+len(custom))}
	for _, e := range builtin {
		c.types[e.typ.Type] = e
	}
	for _, t := range custom {
		if err := c.Add(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Check reports whether Add would accept t, without adding it: the same EINVALID and
// ECONFLICT errors, so a caller can store a type before the catalog takes it.
func (c *Catalog) Check(t herald.EventType) error {
	if err := c.checkFree(t.Type); err != nil {
		return err
	}
	_, err := prepare(t)
	return err
}

// Add adds a custom event type. It returns an EINVALID *herald.Error when the type name
// is malformed, the schema does not compile (or refers to anything outside itself), or
// the sample does not match the schema; and ECONFLICT when a type of that name exists,
// built-in or custom. The schema and sample are stored compacted.
func (c *Catalog) Add(t herald.EventType) error {
	if err := c.checkFree(t.Type); err != nil {
		return err // cheap refusal before compiling anything
	}
	e, err := prepare(t)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.conflict(e.typ.Type); err != nil {
		return err
	}
	c.types[e.typ.Type] = e
	return nil
}

// Lookup returns the event type named typ and whether it exists. The returned value is
// a copy: changing it does not change the catalog.
func (c *Catalog) Lookup(typ string) (herald.EventType, bool) {
	c.mu.RLock()
	e, ok := c.types[typ]
	c.mu.RUnlock()
	if !ok {
		return herald.EventType{}, false
	}
	return clone(e.typ), true
}

// List returns every event type, built-in and custom, sorted by type name. The values
// are copies.
func (c *Catalog) List() []herald.EventType {
	c.mu.RLock()
	list := make([]herald.EventType, 0, len(c.types))
	for _, e := range c.types {
		list = append(list, clone(e.typ))
	}
	c.mu.RUnlock()
	slices.SortFunc(list, func(a, b herald.EventType) int { return strings.Compare(a.Type, b.Type) })
	return list
}

// Builtin reports whether typ is one of the 25 built-in seed event types.
func (c *Catalog) Builtin(typ string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.types[typ]
	return ok && e.builtin
}

// Validate checks data, the payload of an event of type typ, against the type's schema.
// It returns nil when data is a JSON object that matches. Otherwise it returns an
// EINVALID *herald.Error: for an unknown type, one that says so; for data that fails, one
// whose Message names the first failing JSON pointer relative to the publish request
// body ("/data/severity: value must be one of …", "/data: missing property \"drift_id\"")
// and, when there are several failures, whose Details lists them all.
func (c *Catalog) Validate(typ string, data json.RawMessage) error {
	c.mu.RLock()
	e, ok := c.types[typ]
	c.mu.RUnlock()
	if !ok {
		return herald.Errorf(herald.EINVALID, "unknown event type %q; GET /api/v1/event-types lists the known types", typ)
	}
	if err := check(e.schema, data, "data"); err != nil {
		return err
	}
	return nil
}

// checkFree refuses a name that is taken, under the read lock.
func (c *Catalog) checkFree(typ string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.conflict(typ)
}

// conflict returns ECONFLICT if typ exists. The caller holds c.mu.
func (c *Catalog) conflict(typ string) error {
	e, ok := c.types[typ]
	switch {
	case !ok:
		return nil
	case e.builtin:
		return herald.Errorf(herald.ECONFLICT, "event type %q already exists (built-in)", typ)
	default:
		return herald.Errorf(herald.ECONFLICT, "event type %q already exists", typ)
	}
}

// checkName refuses a malformed event type name.
func checkName(typ string) error {
	switch {
	case typ == "":
		return herald.Errorf(herald.EINVALID, "event type name is required")
	case len(typ) > MaxTypeLength:
		return herald.Errorf(herald.EINVALID, "event type name is %d characters long; the limit is %d", len(typ), MaxTypeLength)
	case typ == herald.PingType, typeName.MatchString(typ):
		return nil
	default:
		return herald.Errorf(herald.EINVALID,
			"invalid event type name %q: use lowercase dotted names such as \"invoice.paid\" (a-z, 0-9 and _ between the dots)", typ)
	}
}

// prepare checks and compiles an event type into an entry, without touching any catalog.
func prepare(t herald.EventType) (*entry, error) {
	if err := checkName(t.Type); err != nil {
		return nil, err
	}
	schema, compiled, err := compile(t.Type, t.Schema)
	if err != nil {
		return nil, err
	}
	e := &entry{typ: herald.EventType{Type: t.Type, Description: t.Description, Schema: schema}, schema: compiled}
	sample := bytes.TrimSpace(t.Sample)
	if len(sample) == 0 || string(sample) == "null" {
		return e, nil // the sample is optional
	}
	if err := check(compiled, sample, "sample"); err != nil {
		err.Message = "sample does not match the schema: " + err.Message
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, sample); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "sample is not valid JSON: %v", err) // unreachable: check parsed it
	}
	e.typ.Sample = buf.Bytes()
	return e, nil
}

// clone returns a copy of t that shares no memory with it.
func clone(t herald.EventType) herald.EventType {
	t.Schema = bytes.Clone(t.Schema)
	t.Sample = bytes.Clone(t.Sample)
	return t
}
