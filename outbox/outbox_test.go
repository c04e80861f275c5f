package outbox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/storetest"
)

// schemaURL returns the URL of a new, empty schema on the server HERALD_TEST_POSTGRES_URL
// names, dropped when t ends; t is skipped when the variable is unset.
func schemaURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HERALD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "outbox_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestPublishDeliversIfAndOnlyIfCommitted publishes in producer transactions next to a
// running dispatcher: a rolled-back transaction delivers nothing and leaves nothing,
// a committed one delivers exactly its events, with the producer's own row.
func TestPublishDeliversIfAndOnlyIfCommitted(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	ctx := t.Context()
	store, err := postgres.Open(ctx, dbURL, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("webhook-id"))
	}))
	t.Cleanup(srv.Close)
	now := time.Now().UTC()
	if err := store.CreateWebhook(ctx, &herald.Webhook{
		ID: herald.NewID(herald.PrefixWebhook), TenantID: "team_a", Name: "orders", URL: srv.URL,
		Events: []string{"budget.exceeded"}, Enabled: true, Format: herald.FormatStandard,
		Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	// The dispatcher polls only hourly: the commit's notice must wake it.
	d := dispatch.New(dispatch.Config{Store: store, Notifier: store, Client: &http.Client{}, PollInterval: time.Hour})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	// The producer's own data, in the same database.
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, "CREATE TABLE budgets (id text PRIMARY KEY, spent numeric NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"budget_id": "budget_q4", "project_id": "proj_1", "project_name": "Compute",
		"budget_name": "Q4 compute", "amount": 1000.0, "current_spend": 1204.5, "overspend": 204.5,
		"percentage_used": 120.45, "currency": "USD", "period": "2026-Q4"}
	place := func(budget, eventID string, commit bool) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "INSERT INTO budgets VALUES ($1, 1204.5)", budget); err != nil {
			t.Fatal(err)
		}
		res, err := outbox.Publish(ctx, tx, outbox.Event{Type: "budget.exceeded", TenantID: "team_a", ID: eventID, Data: data})
		if err != nil {
			t.Fatalf("publish %s: %v", eventID, err)
		}
		if res.EventID != eventID || res.Deliveries != 1 || res.Duplicate {
			t.Fatalf("publish %s = %+v, want 1 new delivery", eventID, res)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	place("b-rolled-back", "evt_rolled_back", false)
	place("b-1", "evt_committed_1", true)
	place("b-2", "evt_committed_2", true)

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for anything that should not come
	mu.Lock()
	slices.Sort(got)
	delivered := slices.Clone(got)
	mu.Unlock()
	if want := []string{"evt_committed_1", "evt_committed_2"}; !slices.Equal(delivered, want) {
		t.Errorf("delivered %v, want exactly %v", delivered, want)
	}
	if _, err := store.Event(ctx, "evt_rolled_back"); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("the rolled-back event is stored: %v", err)
	}
	var budgets int
	pool.QueryRow(ctx, "SELECT COUNT(*) FROM budgets").Scan(&budgets)
	if budgets != 2 {
		t.Errorf("%d budget rows, want the 2 committed", budgets)
	}
}

// TestPublishRefusesInvalidEvents checks the catalog is enforced, that a custom type
// Herald stores is known, and that a repeated id is a duplicate, not a second event.
func TestPublishRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	dbURL := schemaURL(t)
	ctx := t.Context()
	store, err := postgres.Open(ctx, dbURL, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateEventType(ctx, &herald.EventType{
		Type: "order.placed", Schema: json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"integer"}}}`),
	}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	publish := func(ev outbox.Event) (outbox.Result, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		res, err := outbox.Publish(ctx, tx, ev)
		if err == nil {
			err = tx.Commit(ctx)
		}
		return res, err
	}
	for name, ev := range map[string]outbox.Event{
		"unknown type":        {Type: "nope.happened", Data: map[string]int{}},
		"data fails schema":   {Type: "order.placed", Data: map[string]string{"order_id": "x"}},
		"data not an object":  {Type: "order.placed", Data: 5},
		"data not valid JSON": {Type: "order.placed", Data: json.RawMessage(`{"order_id":`)},
	} {
		if _, err := publish(ev); herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	first, err := publish(outbox.Event{Type: "order.placed", ID: "evt_order_1", Data: map[string]int{"order_id": 1}})
	if err != nil || first.Duplicate {
		t.Fatalf("publish a custom type: %+v, %v", first, err)
	}
	again, err := publish(outbox.Event{Type: "order.placed", ID: "evt_order_1", Data: map[string]int{"order_id": 1}})
	if err != nil || !again.Duplicate || again.EventID != "evt_order_1" {
		t.Fatalf("publish the same id again: %+v, %v; want the duplicate's result", again, err)
	}
}
