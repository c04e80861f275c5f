package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	s := open(t, freshSchema(t))
	ctx := t.Context()
	addWebhooks(t, s, 1)
	if _, err := s.Publish(ctx, events(100, at)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE deliveries SET status = 'success', next_attempt_at = NULL"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE deliveries"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Publish(ctx, events(1000, at.Add(time.Duration(i+1)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, postgres.ClaimSettings); err != nil {
		t.Fatal(err)
	}
	var plan []struct{ Plan planNode }
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+postgres.DueInOrder,
		at.Add(time.Hour), 64, []string{}, []string{}).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	walked := false
	plan[0].Plan.each(func(n planNode) {
		switch {
		case n.NodeType == "Sort" || n.NodeType == "Bitmap Heap Scan":
			t.Errorf("the walk has a %s node: it reads every due delivery before its limit", n.NodeType)
		case n.NodeType == "Index Scan" && n.IndexName == "deliveries_due":
			walked = true
		}
	})
	if !walked {
		t.Error("the walk does not scan deliveries_due")
	}
	if t.Failed() {
		out, _ := json.MarshalIndent(plan, "", "  ")
		t.Logf("plan: %s", out)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON) and what the test reads of it.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// TestRecordFindsDeliveriesByKey checks the plan of a record's read of its deliveries
// that a connection cached while the table was small: left to itself, it keeps a
// sequential scan of deliveries, one read of the whole table per batch, until the next
// analysis. Under the record's settings the cached plan finds them by key.
func TestRecordFindsDeliveriesByKey(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	s := open(t, u)
	ctx := t.Context()
	addWebhooks(t, s, 1)
	rs, err := s.Publish(ctx, events(20, at))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{rs[0].DeliveryIDs[0], rs[1].DeliveryIDs[0]}
	if _, err := s.Pool().Exec(ctx, "ANALYZE deliveries"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, plainURL(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) //nolint:errcheck // the test is over
	if _, err := conn.Prepare(ctx, "lock", postgres.LockDeliveries); err != nil {
		t.Fatal(err)
	}
	inRecord := func(f func(tx pgx.Tx)) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only
		if _, err := tx.Exec(ctx, postgres.RecordSettings); err != nil {
			t.Fatal(err)
		}
		f(tx)
	}
	// Past the executions after which the server may cache one plan for every call.
	for range 8 {
		inRecord(func(tx pgx.Tx) {
			if _, err := tx.Exec(ctx, "lock", ids); err != nil {
				t.Fatal(err)
			}
		})
	}
	for i := range 3 {
		if _, err := s.Publish(ctx, events(1000, at.Add(time.Duration(i+1)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	inRecord(func(tx pgx.Tx) {
		var plan []struct{ Plan planNode }
		if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE lock('{"+strings.Join(ids, ",")+"}')").Scan(&plan); err != nil {
			t.Fatal(err)
		}
		plan[0].Plan.each(func(n planNode) {
			if n.NodeType == "Seq Scan" {
				out, _ := json.MarshalIndent(plan, "", "  ")
				t.Errorf("the record's read scans deliveries in full:\n%s", out)
			}
		})
	})
}

// each calls f with n and every node under it.
func (n planNode) each(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.each(f)
	}
}
