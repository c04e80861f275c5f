package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaBase is where a type's schema lives while it is compiled. The scheme is Herald's
// own, so a relative $ref resolves to a URL no loader serves instead of to a file.
const schemaBase = "herald:///event-types/"

// Limits on one number in validated data. JSON allows any number of digits and any
// exponent; the schema library turns numbers into exact rationals, which for an exponent
// of a few hundred thousand takes tens of milliseconds each, so a payload of such numbers
// could stall a validator. Nothing a producer sends in earnest comes near these limits
// (float64 stops at about 1e308).
const (
	maxNumberLength   = 256
	maxNumberExponent = 1000
)

// maxDetails caps how many failures Details lists, so a large array of bad items cannot
// make an error message as large as the request.
const maxDetails = 20

// printer formats the schema library's error kinds in English.
var printer = message.NewPrinter(language.English)

// errRefused is what refusingLoader says for every URL.
var errRefused = errors.New("event type schemas may not load other documents")

// refusingLoader loads nothing. The schema library's default loader reads file:// URLs,
// and an HTTP loader would let an operator's schema make Herald fetch arbitrary URLs, so
// a schema may only use references within itself. (The draft meta-schemas are embedded
// in the library and never reach a loader.)
type refusingLoader struct{}

// Load refuses url.
func (refusingLoader) Load(string) (any, error) { return nil, errRefused }

// compile parses and compiles the schema of event type typ. It returns the schema
// compacted, and an EINVALID *herald.Error when it is missing, not a JSON object, not a
// valid schema, or refers to anything outside itself.
func compile(typ string, raw json.RawMessage) (json.RawMessage, *jsonschema.Schema, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, herald.Errorf(herald.EINVALID, "schema is required: a JSON Schema (draft 2020-12) object")
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, nil, herald.Errorf(herald.EINVALID, "schema is not valid JSON: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, nil, herald.Errorf(herald.EINVALID, "schema must be a JSON object, not %s", jsonKind(doc))
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refusingLoader{})
	loc := schemaBase + typ + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, nil, herald.Errorf(herald.EINVALID, "schema: %v", err)
	}
	compiled, err := c.Compile(loc)
	if err != nil {
		return nil, nil, compileError(loc, err)
	}

	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, nil, herald.Errorf(herald.EINVALID, "schema is not valid JSON: %v", err) // unreachable: decoded above
	}
	return buf.Bytes(), compiled, nil
}

// compileError turns a compile failure into an EINVALID error that names the reference
// that was refused, or says what is wrong with the schema with locations relative to it.
func compileError(loc string, err error) *herald.Error {
	var load *jsonschema.LoadURLError
	if errors.As(err, &load) {
		ref := strings.TrimPrefix(load.URL, schemaBase)
		const hint = `; put shared definitions under "$defs" in the same schema and refer to them as "#/$defs/<name>"`
		scheme := ""
		if u, perr := url.Parse(load.URL); perr == nil {
			scheme = strings.ToLower(u.Scheme)
		}
		switch scheme {
		case "http", "https":
			return herald.Errorf(herald.EINVALID, "schema refers to %q: remote references are not allowed%s", ref, hint)
		case "file":
			return herald.Errorf(herald.EINVALID, "schema refers to %q: file references are not allowed%s", ref, hint)
		default:
			return herald.Errorf(herald.EINVALID, "schema refers to %q, outside itself: only references within the schema are allowed%s", ref, hint)
		}
	}
	var meta *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &meta) && errors.As(meta.Err, &verr) { // the schema fails its meta-schema
		herr := validationError(verr, "/schema")
		herr.Message = "schema is not a valid JSON Schema: " + herr.Message
		return herr
	}
	msg := strings.ReplaceAll(err.Error(), loc, "")
	return herald.Errorf(herald.EINVALID, "schema does not compile: %s", msg)
}

// check validates data, found at /field in a request body, against schema. It returns
// nil or an EINVALID *herald.Error naming the failing pointers (see Catalog.Validate).
func check(schema *jsonschema.Schema, data json.RawMessage, field string) *herald.Error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return herald.Errorf(herald.EINVALID, "%s is required: a JSON object", field)
	}
	v, err := decodeJSON(data)
	if err != nil {
		return herald.Errorf(herald.EINVALID, "%s is not valid JSON: %v", field, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return herald.Errorf(herald.EINVALID, "%s must be a JSON object, not %s", field, jsonKind(v))
	}
	prefix := "/" + field
	if err := checkNumbers(v, prefix); err != nil {
		return err
	}
	err = schema.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return validationError(verr, prefix)
	}
	return herald.Errorf(herald.EINVALID, "%s: %v", prefix, err)
}

// problem is one leaf failure of a validation.
type problem struct {
	depth   int
	pointer string
	message string
}

func (p problem) String() string { return p.pointer + ": " + p.message }

// validationError flattens the library's error tree into its leaves. The deepest leaf is
// the Message (ties go by pointer, so the answer does not depend on the order the library
// visits an object's properties in, then by the schema's own order: an enum before the
// anyOf alternative next to it); all of them, when there are several, are the Details.
func validationError(verr *jsonschema.ValidationError, prefix string) *herald.Error {
	var problems []problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			problems = append(problems, problem{
				depth:   len(e.InstanceLocation),
				pointer: prefix + pointer(e.InstanceLocation),
				message: describe(e.ErrorKind),
			})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	slices.SortStableFunc(problems, func(a, b problem) int {
		if a.depth != b.depth {
			return b.depth - a.depth
		}
		return strings.Compare(a.pointer, b.pointer)
	})
	seen := make(map[problem]bool, len(problems))
	problems = slices.DeleteFunc(problems, func(p problem) bool {
		dup := seen[p]
		seen[p] = true
		return dup
	})

	herr := &herald.Error{Code: herald.EINVALID, Message: problems[0].String()}
	if len(problems) > 1 {
		list := make([]string, 0, min(len(problems), maxDetails)+1)
		for _, p := range problems[:min(len(problems), maxDetails)] {
			list = append(list, p.String())
		}
		if len(problems) > maxDetails {
			list = append(list, fmt.Sprintf("and %d more", len(problems)-maxDetails))
		}
		herr.Details = strings.Join(list, "; ")
	}
	return herr
}

// describe says what one failure is. Required, enum, const and format failures are spelled
// with JSON's double quotes (`missing property "drift_id"`); the rest as the library says them.
func describe(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Required:
		if len(k.Missing) == 1 {
			return "missing property " + literal(k.Missing[0])
		}
		quoted := make([]string, len(k.Missing))
		for i, m := range k.Missing {
			quoted[i] = literal(m)
		}
		return "missing properties " + strings.Join(quoted, ", ")
	case *kind.Enum:
		if primitives(k.Want...) {
			want := make([]string, len(k.Want))
			for i, w := range k.Want {
				want[i] = literal(w)
			}
			if len(want) == 1 {
				return "value must be " + want[0]
			}
			return "value must be one of " + strings.Join(want, ", ")
		}
	case *kind.Const:
		if primitives(k.Want) {
			return "value must be " + literal(k.Want)
		}
	case *kind.Format:
		if primitives(k.Got) {
			return fmt.Sprintf("%s is not a valid %s: %v", literal(k.Got), k.Want, k.Err)
		}
	}
	return k.LocalizedString(printer)
}

// primitives reports whether no value is an object or array.
func primitives(vs ...any) bool {
	for _, v := range vs {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// literal spells a primitive JSON value as JSON does.
func literal(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v) // a value the library decoded is always encodable; be safe anyway
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// pointer is the RFC 6901 JSON pointer of the given reference tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(pointerEscaper.Replace(t))
	}
	return sb.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// checkNumbers refuses numbers beyond maxNumberLength and maxNumberExponent, naming the
// first (by pointer) such number. Pointers are only built for bad numbers, so the walk
// costs next to nothing on good data.
func checkNumbers(v any, prefix string) *herald.Error {
	var bad []string
	var path []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				path = append(path, k)
				walk(x)
				path = path[:len(path)-1]
			}
		case []any:
			for i, x := range v {
				path = append(path, strconv.Itoa(i))
				walk(x)
				path = path[:len(path)-1]
			}
		case json.Number:
			if !reasonable(v) {
				bad = append(bad, prefix+pointer(path))
			}
		}
	}
	walk(v)
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return herald.Errorf(herald.EINVALID, "%s: number is out of range (at most %d characters and an exponent within ±%d)",
		bad[0], maxNumberLength, maxNumberExponent)
}

// reasonable reports whether n is within the limits checkNumbers enforces.
func reasonable(n json.Number) bool {
	s := string(n)
	if len(s) > maxNumberLength {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	exp, err := strconv.Atoi(s[i+1:])
	return err == nil && exp >= -maxNumberExponent && exp <= maxNumberExponent
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number so no precision is
// lost, and refuses anything after it.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// jsonKind names the JSON type of a decoded value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return "null"
	}
}
