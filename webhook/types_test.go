package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/webhook"
)

// builtinTypes returns Herald's built-in event types, those of catalog/schemas.
func builtinTypes(t *testing.T) []herald.EventType {
	t.Helper()
	c, err := catalog.New()
	if err != nil {
		t.Fatalf("catalog.New: %v", err)
	}
	var types []herald.EventType
	for _, et := range c.List() {
		if c.Builtin(et.Type) {
			types = append(types, et)
		}
	}
	if len(types) == 0 {
		t.Fatal("the catalog has no built-in types")
	}
	return types
}

// payloadType returns the struct Event.Payload decodes typ's data into, or fails t.
func payloadType(t *testing.T, typ string) reflect.Type {
	t.Helper()
	p, err := (&webhook.Event{Type: typ, Data: json.RawMessage(`{}`)}).Payload()
	if err != nil {
		t.Fatalf("Payload of %s: %v", typ, err)
	}
	rt := reflect.TypeOf(p)
	if rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		t.Fatalf("Payload of %s is a %v, want a pointer to a struct: the package has no struct for this catalog type", typ, rt)
	}
	return rt.Elem()
}

// TestTypeConstants checks the Type constants name exactly the catalog's built-in types.
func TestTypeConstants(t *testing.T) {
	t.Parallel()
	constants := []string{
		webhook.TypePing, webhook.TypeDriftDetected, webhook.TypeDriftResolved, webhook.TypeAlertCreated,
		webhook.TypeVulnerabilityFound, webhook.TypeComplianceViolation, webhook.TypeCostAnomaly,
		webhook.TypeJobCompleted, webhook.TypeRemediationCompleted, webhook.TypeExecutionStarted,
		webhook.TypeExecutionCompleted, webhook.TypeExecutionFailed, webhook.TypeScheduleActivated,
		webhook.TypeSchedulePaused, webhook.TypeBudgetThresholdBreached, webhook.TypeBudgetExceeded,
		webhook.TypeViolationCreated, webhook.TypeViolationResolved, webhook.TypeScanCompleted,
		webhook.TypeFindingCreated, webhook.TypeAnomalyDetected, webhook.TypeConnectionHealthChanged,
		webhook.TypeAccessRequestSubmitted, webhook.TypeAccessRequestApproved, webhook.TypeAccessRequestDenied,
	}
	var catalogTypes []string
	for _, et := range builtinTypes(t) {
		catalogTypes = append(catalogTypes, et.Type)
	}
	slices.Sort(constants)
	if !slices.Equal(constants, catalogTypes) {
		t.Errorf("Type constants:\n%v\ncatalog's built-in types:\n%v", constants, catalogTypes)
	}
}

// TestPayloadStructsMatchSchemas checks every built-in catalog type has a struct whose
// fields are exactly the schema's properties, with the schema's JSON types, omitempty
// exactly on the optional ones, and optional numbers as pointers so a 0 survives.
func TestPayloadStructsMatchSchemas(t *testing.T) {
	t.Parallel()
	for _, et := range builtinTypes(t) {
		t.Run(et.Type, func(t *testing.T) {
			t.Parallel()
			var schema map[string]any
			if err := json.Unmarshal(et.Schema, &schema); err != nil {
				t.Fatalf("schema: %v", err)
			}
			checkStruct(t, et.Type, payloadType(t, et.Type), schema)
		})
	}
}

// checkStruct checks struct type typ against an object schema.
func checkStruct(t *testing.T, path string, typ reflect.Type, schema map[string]any) {
	t.Helper()
	properties, _ := schema["properties"].(map[string]any)
	var required []string
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	fields := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("%s: field %s has no JSON name", path, f.Name)
			continue
		}
		fields[name] = f
		if _, ok := properties[name]; !ok {
			t.Errorf("%s: field %s (%q) is not a property of the schema", path, f.Name, name)
		}
		if omit, req := strings.Contains(opts, "omitempty"), slices.Contains(required, name); omit == req {
			t.Errorf("%s.%s: omitempty is %v, want it exactly on optional properties (required: %v)", path, name, omit, req)
		}
	}
	for name, p := range properties {
		f, ok := fields[name]
		if !ok {
			t.Errorf("%s: property %q has no field", path, name)
			continue
		}
		checkType(t, path+"."+name, f.Type, p.(map[string]any), !slices.Contains(required, name))
	}
}

// checkType checks Go type typ against a property's schema.
func checkType(t *testing.T, path string, typ reflect.Type, schema map[string]any, optional bool) {
	t.Helper()
	jsonType := schema["type"]
	if optional && (jsonType == "integer" || jsonType == "number" || jsonType == "boolean") && typ.Kind() != reflect.Pointer {
		t.Errorf("%s: optional %s is a %v, want a pointer so that a 0 or false sent survives omitempty", path, jsonType, typ)
	}
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := map[any]reflect.Kind{
		"integer": reflect.Int64, "number": reflect.Float64, "string": reflect.String,
		"boolean": reflect.Bool, "array": reflect.Slice,
	}[jsonType]
	switch {
	case jsonType == "object" && schema["properties"] != nil:
		if typ.Kind() != reflect.Struct {
			t.Errorf("%s: object with properties is a %v, want a struct", path, typ)
			return
		}
		checkStruct(t, path, typ, schema)
	case jsonType == "object":
		if typ.Kind() != reflect.Map {
			t.Errorf("%s: object is a %v, want a map", path, typ)
		}
	case typ.Kind() != want:
		t.Errorf("%s: %v is a %v, want %v", path, jsonType, typ, want)
	case jsonType == "array":
		items, _ := schema["items"].(map[string]any)
		checkType(t, path+"[]", typ.Elem(), items, false)
	}
}

// TestPayloadRoundTrip decodes every seed example (catalog/testdata/seeds) and every
// catalog sample into its struct, refusing unknown fields, and checks that encoding the
// struct again gives the same JSON: same keys, same values.
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	type example struct {
		name, typ string
		data      []byte
	}
	var examples []example
	files, err := filepath.Glob("../catalog/testdata/seeds/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed examples in ../catalog/testdata/seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		typ := strings.TrimSuffix(filepath.Base(file), ".json")
		examples = append(examples, example{"seed/" + typ, typ, data})
	}
	for _, et := range builtinTypes(t) {
		examples = append(examples, example{"sample/" + et.Type, et.Type, et.Sample})
	}
	c, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}

	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			p := reflect.New(payloadType(t, ex.typ)).Interface()
			dec := json.NewDecoder(bytes.NewReader(ex.data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(p); err != nil {
				t.Fatalf("decode into %T: %v", p, err)
			}
			again, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("encode %T: %v", p, err)
			}
			var want, got any
			if err := json.Unmarshal(ex.data, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip through %T:\n got %s\nwant %s", p, again, ex.data)
			}
			if err := c.Validate(ex.typ, again); err != nil {
				t.Errorf("the re-encoded %T fails the schema: %v", p, err)
			}

			// Payload, the way receivers get it, decodes to the same.
			viaPayload, err := (&webhook.Event{Type: ex.typ, Data: ex.data}).Payload()
			if err != nil || !reflect.DeepEqual(viaPayload, p) {
				t.Errorf("Payload = %+v, %v; want %+v", viaPayload, err, p)
			}
		})
	}
}
