package filter_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/filter"
)

// BenchmarkMatch1000 is one event matched against 1,000 webhooks' distinct filters:
// the filter part of a fan-out to 1,000 filtered webhooks.
func BenchmarkMatch1000(b *testing.B) {
	m := filter.NewMatcher()
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = fmt.Sprintf(`data.severity == "critical" && data.resource_type.startsWith("s3") && tenant_id != "t%d"`, i)
	}
	e := event("drift.detected", `{"severity":"critical","resource_type":"s3_bucket","drift_id":"d_1","fields":["acl"]}`)
	for _, t := range texts {
		m.For(e)(t) // compile once, as a warm server has
	}
	b.ReportAllocs()
	for b.Loop() {
		match := m.For(e)
		for _, t := range texts {
			if !match(t) {
				b.Fatal("no match")
			}
		}
	}
}
