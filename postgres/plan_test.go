package postgres_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/postgres"
)

// TestClaimWalkStopsAtItsLimit checks the plan of a claim's walk through the due
// deliveries after a burst that the statistics have not seen: analyzed while nothing was
// pending, the planner guesses the due set is tiny, and left to itself it reads the whole
// backlog through a bitmap scan and sorts it, on every claim, until the next analysis.
// Under the claim's settings it must walk deliveries_due in order, so that it stops at
// its limit.
func TestClaimWalkStopsAtItsLimit(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	s := open(t, u)
	ctx := t.Context()
	addWebhooks(t, s, 1)
	if _, err := s.Publish(ctx, events(100, at)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE deliveries SET status = 'success', next_attempt_at = NULL"); err != nil {
		t.Fatal(err)
	}
	conn := statisticsHeld(t, u)
	publishBurst(t, s)

	walk := func(settings string) planNode {
		return explain(t, conn, settings, "EXPLAIN (FORMAT JSON) "+postgres.DueInOrder,
			at.Add(time.Hour), 64, []string{}, []string{})
	}
	if plain := walk("SELECT 1"); !plain.has(func(n planNode) bool { return strings.Contains(n.NodeType, "Sort") }) {
		t.Fatalf("without the claim's settings the walk is already in order, so this test shows nothing: %s", plain)
	}
	plan := walk(postgres.ClaimSettings)
	if plan.has(func(n planNode) bool {
		return strings.Contains(n.NodeType, "Sort") || n.NodeType == "Bitmap Heap Scan"
	}) {
		t.Errorf("the walk reads every due delivery before its limit: %s", plan)
	}
	if !plan.has(func(n planNode) bool { return n.NodeType == "Index Scan" && n.IndexName == "deliveries_due" }) {
		t.Errorf("the walk does not scan deliveries_due: %s", plan)
	}
}

// TestRecordFindsDeliveriesByKey checks the plan of a record's read of its deliveries
// that a connection cached while the table was empty: left to itself, it keeps a
// sequential scan of deliveries, one read of the whole table per batch, until the next
// analysis. Under the record's settings the cached plan finds them by key.
func TestRecordFindsDeliveriesByKey(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	s := open(t, u)
	ctx := t.Context()
	addWebhooks(t, s, 1)
	ids := "'{" + herald.NewID(herald.PrefixDelivery) + "," + herald.NewID(herald.PrefixDelivery) + "}'"
	conn := statisticsHeld(t, u)
	// The same statement twice, each cached while deliveries is empty with a plan for
	// every call (which the server chooses by itself after a few runs), without and
	// with the record's settings.
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	for name, settings := range map[string]string{"plain": "SELECT 1", "record": postgres.RecordSettings} {
		if _, err := conn.Prepare(ctx, name, postgres.LockDeliveries); err != nil {
			t.Fatal(err)
		}
		explain(t, conn, settings, "EXPLAIN (FORMAT JSON) EXECUTE "+name+"("+ids+")")
	}
	publishBurst(t, s)

	seqScan := func(n planNode) bool { return n.NodeType == "Seq Scan" }
	// Planned on an empty table, reading it all and reading by key cost about the same:
	// the server usually caches the scan, now and then the index.
	if plain := explain(t, conn, "SELECT 1", "EXPLAIN (FORMAT JSON) EXECUTE plain("+ids+")"); !plain.has(seqScan) {
		t.Logf("without the record's settings, this time too the cached read finds rows by key: %s", plain)
	}
	if plan := explain(t, conn, postgres.RecordSettings, "EXPLAIN (FORMAT JSON) EXECUTE record("+ids+")"); plan.has(seqScan) {
		t.Errorf("the record's read scans deliveries in full: %s", plan)
	}
}

// publishBurst publishes 3,000 events, a second apart in batches of 1,000: a burst
// that statistics taken before it have not seen.
func publishBurst(t *testing.T, s *postgres.Store) {
	t.Helper()
	for i := range 3 {
		if _, err := s.Publish(t.Context(), events(1000, at.Add(time.Duration(i+1)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
}

// statisticsHeld analyzes deliveries now and keeps anyone from analyzing it again
// until t ends: the store's own maintenance and autovacuum skip a table locked so,
// while publishes go on. It returns a connection for explain.
func statisticsHeld(t *testing.T, u *url.URL) *pgx.Conn {
	t.Helper()
	ctx := t.Context()
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, plainURL(u))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) }) //nolint:errcheck // the test is over
		return conn
	}
	holder, conn := connect(), connect()
	if _, err := holder.Exec(ctx, "ANALYZE deliveries"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "BEGIN; LOCK TABLE deliveries IN SHARE UPDATE EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// explain runs q, an EXPLAIN (FORMAT JSON), in a transaction that begins with settings,
// and returns its plan.
func explain(t *testing.T, conn *pgx.Conn, settings, q string, args ...any) planNode {
	t.Helper()
	ctx := t.Context()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, settings); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	if err := tx.QueryRow(ctx, q, args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	return plan[0].Plan
}

// planNode is a node of EXPLAIN (FORMAT JSON) and what the tests read of it.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name,omitempty"`
	Plans     []planNode `json:"Plans,omitempty"`
}

// has says whether n or a node under it is one that match accepts.
func (n planNode) has(match func(planNode) bool) bool {
	if match(n) {
		return true
	}
	for _, c := range n.Plans {
		if c.has(match) {
			return true
		}
	}
	return false
}

func (n planNode) String() string {
	out, _ := json.MarshalIndent(n, "", "  ")
	return string(out)
}
