// Command outbox is a producer that publishes Herald events in its own PostgreSQL
// transaction (the transactional outbox): it records a budget overrun and the
// budget.exceeded event announcing it in one transaction, so Herald delivers the event
// if and only if the overrun is committed.
//
// Run it against the database herald serve uses (HERALD_DATABASE_URL):
//
//	go run ./examples/outbox --database-url postgres://localhost/herald --rollback=false
//
// With --rollback the transaction is rolled back: no row, no event, no delivery.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/outbox"
)

func main() {
	url := flag.String("database-url", os.Getenv("HERALD_DATABASE_URL"), "the PostgreSQL database Herald runs on")
	tenant := flag.String("tenant", "default", "the tenant whose webhooks get the event")
	rollback := flag.Bool("rollback", false, "roll the transaction back instead of committing")
	flag.Parse()
	if err := run(context.Background(), *url, *tenant, *rollback); err != nil {
		fmt.Fprintln(os.Stderr, "outbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, tenant string, rollback bool) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The producer's own table, in the same database.
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS budget_overruns (budget_id text, spend numeric, at timestamptz DEFAULT now())"); err != nil {
		return err
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // a no-op after Commit

	// 1. The producer's change.
	if _, err := tx.Exec(ctx, "INSERT INTO budget_overruns (budget_id, spend) VALUES ($1, $2)", "budget_def456", 5120.00); err != nil {
		return err
	}
	// 2. The event announcing it, in the same transaction. It is checked against
	// Herald's catalog here, so a bad payload fails the transaction, not a delivery.
	res, err := outbox.Publish(ctx, tx, outbox.Event{
		Type:     "budget.exceeded",
		TenantID: tenant,
		Data: map[string]any{
			"budget_id": "budget_def456", "project_id": "proj_abc123", "project_name": "Production Infrastructure",
			"budget_name": "Monthly EC2 spend", "amount": 5000.00, "current_spend": 5120.00, "overspend": 120.00,
			"percentage_used": 102.4, "currency": "USD", "period": "monthly",
		},
	})
	if err != nil {
		return err
	}
	// 3. Commit: both happen, and every herald serve on the database hears of it at once.
	if rollback {
		fmt.Printf("rolled back: event %s and its %d deliveries never existed\n", res.EventID, res.Deliveries)
		return tx.Rollback(ctx)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	fmt.Printf("committed: event %s, %d deliveries queued\n", res.EventID, res.Deliveries)
	return nil
}
