package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMaintainsGrownTables publishes enough to pass autovacuum's analyze threshold
// and delivers it, leaving dead versions in deliveries, and waits for the store itself
// to vacuum and analyze the tables: whether or not autovacuum runs on the server, a
// manual vacuum and analysis are Herald's own.
func TestMaintainsGrownTables(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	s := open(t, u)
	ctx := t.Context()
	addWebhooks(t, s, 2)
	if _, err := s.Publish(ctx, events(200, at)); err != nil {
		t.Fatal(err)
	}
	// Every delivery attempted once: its row gets a new version, the old one is dead.
	if _, err := s.Pool().Exec(ctx, "UPDATE deliveries SET attempt_count = 1, updated_at = updated_at"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, plainURL(u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(t.Context()) }) //nolint:errcheck // the test is over
	deadline := time.Now().Add(time.Minute)
	for {
		var vacuumed, analyzed int
		err := conn.QueryRow(ctx, `SELECT count(last_vacuum), count(last_analyze) FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname IN ('deliveries', 'events')`).Scan(&vacuumed, &analyzed)
		if err != nil {
			t.Fatal(err)
		}
		if vacuumed >= 1 && analyzed == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d of deliveries and events vacuumed (want deliveries) and %d analyzed (want both) by the store", vacuumed, analyzed)
		}
		time.Sleep(100 * time.Millisecond) // polling the condition, not waiting it out
	}
}
