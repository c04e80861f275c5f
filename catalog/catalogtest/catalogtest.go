// Package catalogtest gives tests the seed pages' examples of the built-in event types,
// which the catalog keeps verbatim in catalog/testdata/seeds. Only tests import it.
package catalogtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// SeedTypes is how many built-in event types the seed pages give an example for.
const SeedTypes = 25

// SeedExamples returns the data of every seed example, by event type. The Frugally page
// gives one example for both access_request.approved and access_request.denied, so the
// two share it.
func SeedExamples(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("catalogtest cannot tell where its source is, to find the seed examples beside it")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "testdata", "seeds")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("seed examples in %s: %v", dir, err)
	}
	out := map[string]json.RawMessage{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = data
	}
	out["access_request.denied"] = out["access_request.approved"]
	if len(out) != SeedTypes {
		t.Fatalf("%d seed event types in %s, want %d", len(out), dir, SeedTypes)
	}
	return out
}
