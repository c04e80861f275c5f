package sqlite

import (
	"strings"
	"testing"
)

// TestBacklogPlan guards the cost of Backlog, which every metrics scrape pays: the
// deliveries must be read from deliveries_due alone, never from the table, and the
// oldest due one found by a seek, not a sort.
func TestBacklogPlan(t *testing.T) {
	s, _ := openStore(t)
	fillBacklog(t, s, 100, 20000, false)

	plan := queryPlan(t, s.read, backlogQuery, 5000)
	for _, want := range []string{
		"SCAN deliveries USING COVERING INDEX deliveries_due\n", // the index holds pending deliveries alone
		"SEARCH deliveries USING COVERING INDEX deliveries_due (next_attempt_at<?)",
	} {
		if !strings.Contains(plan+"\n", want) {
			t.Errorf("backlog plan lacks %q; plan:\n%s", want, plan)
		}
	}
	for _, line := range strings.Split(plan, "\n") {
		if strings.Contains(line, "SCAN deliveries") && !strings.Contains(line, "USING COVERING INDEX deliveries_due") ||
			strings.Contains(line, "TEMP B-TREE") {
			t.Errorf("backlog plan has %q; plan:\n%s", line, plan)
		}
	}
}
