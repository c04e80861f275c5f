package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/storetest"
)

func TestStoreContract(t *testing.T) {
	baseURL(t) // skip before the suite starts its subtests
	storetest.Run(t, func(t *testing.T) herald.Store {
		return open(t, freshSchema(t))
	})
}

// at is the reference time of these tests: whole seconds, in the past.
var at = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// addWebhooks creates the tenant team_a and n enabled webhooks of it that take every
// event.
func addWebhooks(t *testing.T, s herald.Store, n int) []*herald.Webhook {
	t.Helper()
	ctx := t.Context()
	tenant := herald.Tenant{ID: "team_a", Name: "A", CreatedAt: at}
	if err := s.CreateTenant(ctx, &tenant, herald.HashKey("team_a")); err != nil && herald.ErrorCode(err) != herald.ECONFLICT {
		t.Fatalf("create tenant: %v", err)
	}
	var ws []*herald.Webhook
	for range n {
		w := &herald.Webhook{TenantID: tenant.ID, Name: "r", URL: "https://r.example", Enabled: true,
			Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: at, UpdatedAt: at}
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatalf("create webhook: %v", err)
		}
		ws = append(ws, w)
	}
	return ws
}

// events returns n publications of new events of team_a accepted at created.
func events(n int, created time.Time) []herald.Publication {
	ps := make([]herald.Publication, n)
	for i := range ps {
		ps[i] = herald.Publication{Event: herald.Event{ID: herald.NewID(herald.PrefixEvent), TenantID: "team_a",
			Type: "drift.detected", Data: []byte(`{"i":` + fmt.Sprint(i) + `}`), Timestamp: created, CreatedAt: created}}
	}
	return ps
}

// publishedStore opens a store on a fresh schema with one webhook of team_a, publishes
// n events to it at at, and returns the store, the webhook and the events' deliveries
// to it, in publish order.
func publishedStore(t *testing.T, n int) (*postgres.Store, *herald.Webhook, []string) {
	t.Helper()
	s := open(t, freshSchema(t))
	w := addWebhooks(t, s, 1)[0]
	rs, err := s.Publish(t.Context(), events(n, at))
	if err != nil {
		t.Fatalf("publish %d events: %v", n, err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.DeliveryIDs...)
	}
	if len(ids) != n {
		t.Fatalf("published %d events to one webhook: %d deliveries, want %d", n, len(ids), n)
	}
	return s, w, ids
}

// TestTwoStoresOneSchema opens the schema twice, as two dispatcher processes would, and
// claims from both at once: no delivery goes to two workers and no claim fails.
func TestTwoStoresOneSchema(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	a, b := open(t, u), open(t, u)
	addWebhooks(t, a, 5)
	if _, err := b.Publish(t.Context(), events(100, at)); err != nil {
		t.Fatal(err)
	}
	storetest.ClaimConcurrently(t, []herald.Store{a, b}, 8, 500, at.Add(time.Minute))
}

// TestPerWebhookCapAcrossStores has eight workers on two stores claim from one webhook
// with a cap of 3, all at once and over and over, while deliveries due earlier than the
// backlog keep arriving, so that claims read different heads of the queue: however they
// interleave, 3 deliveries of the webhook are leased in all, never more. It does so in
// rounds, each on a webhook of its own.
func TestPerWebhookCapAcrossStores(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	a, b := open(t, u), open(t, u)
	const perWebhook, rounds = 3, 15
	now := at.Add(time.Minute)
	for round := range rounds {
		tenant := fmt.Sprintf("team_%d", round)
		w := &herald.Webhook{TenantID: tenant, Name: "r", URL: "https://r.example", Enabled: true,
			Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: at, UpdatedAt: at}
		if err := a.CreateWebhook(t.Context(), w); err != nil {
			t.Fatal(err)
		}
		backlog := events(50, at)
		for i := range backlog {
			backlog[i].Event.TenantID = tenant
		}
		if _, err := a.Publish(t.Context(), backlog); err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			claimed []string
			wg      sync.WaitGroup
			start   = make(chan struct{})
		)
		wg.Go(func() { // deliveries due before the whole backlog, one after another
			<-start
			for i := range 20 {
				e := events(1, at.Add(-time.Duration(i+1)*time.Second))
				e[0].Event.TenantID = tenant
				if _, err := b.Publish(t.Context(), e); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
		for i := range 8 {
			st := []herald.Store{a, b}[i%2]
			wg.Go(func() {
				<-start
				for range 10 {
					cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{Owner: fmt.Sprintf("worker-%d", i), Now: now,
						LeaseUntil: now.Add(time.Hour), Limit: 10, PerWebhook: perWebhook})
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					mu.Lock()
					for _, c := range cs {
						claimed = append(claimed, c.Delivery.ID)
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(claimed) != perWebhook {
			t.Fatalf("round %d: %d deliveries of one webhook leased by concurrent capped claims, want the cap, %d",
				round, len(claimed), perWebhook)
		}
	}
}

// TestOpenConcurrently starts ten stores on a new schema at once, as ten processes
// started together would: every one opens, and the migrations are applied once.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	const n = 10
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), u.String(), storetest.Cipher{}) })
	}
	wg.Wait()
	t.Logf("%d stores opened together on a new schema in %v", n, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() }) // a close error is not what this tests
	}
	if t.Failed() {
		return
	}

	var applied, tables int
	pool := stores[0].Pool()
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM goose_db_version WHERE version_id = 1 AND is_applied").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want once", applied)
	}
	if err := pool.QueryRow(t.Context(),
		"SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if want := 12 + 1; tables != want { // Herald's tables and goose's
		t.Errorf("the schema has %d tables, want %d", tables, want)
	}
	if n, err := postgres.Migrate(t.Context(), u.String()); err != nil || n != 0 {
		t.Errorf("migrate after open = %d, %v; want nothing to apply", n, err)
	}
	// Every store works on the one schema.
	addWebhooks(t, stores[n-1], 1)
	for i, s := range stores {
		if ws, total, err := s.Webhooks(t.Context(), herald.WebhookFilter{}); err != nil || total != 1 || len(ws) != 1 {
			t.Errorf("store %d lists %d webhooks (total %d, err %v), want 1", i, len(ws), total, err)
		}
	}
}

// TestMigrate applies the migrations to a new schema, then finds nothing to apply.
func TestMigrate(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	n, err := postgres.Migrate(t.Context(), u.String())
	entries, _ := filepath.Glob("migrations/*.sql")
	if err != nil || n != len(entries) {
		t.Fatalf("migrate a new schema = %d, %v; want every migration (%d) applied", n, err, len(entries))
	}
	if n, err = postgres.Migrate(t.Context(), u.String()); err != nil || n != 0 {
		t.Fatalf("migrate again = %d, %v; want 0", n, err)
	}
	open(t, u) // and a store opens on it
}

// TestEventDataByteForByte publishes data whose keys are out of order and spaced: it
// comes back exactly as published, from Event and in a claim (jsonb would reorder it).
func TestEventDataByteForByte(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	addWebhooks(t, s, 1)
	const data = `{"zeta": 1,  "alpha":[3, 2,1],"nested":{"b":null,"a":"\u00e9"}, "zeta2":1.50}`
	ps := events(1, at)
	ps[0].Event.Data = json.RawMessage(data)
	if _, err := s.Publish(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	e, err := s.Event(t.Context(), ps[0].Event.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Data) != data {
		t.Errorf("event data = %s, want byte for byte %s", e.Data, data)
	}
	cs, err := s.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 1})
	if err != nil || len(cs) != 1 {
		t.Fatalf("claim: %d, %v", len(cs), err)
	}
	if string(cs[0].Event.Data) != data {
		t.Errorf("claimed event data = %s, want byte for byte %s", cs[0].Event.Data, data)
	}
}

// TestSecretsSealed reads the webhook's row as stored: its secrets are not in it in
// plaintext, while the store reads them back.
func TestSecretsSealed(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	ctx := t.Context()
	w := addWebhooks(t, s, 1)[0]
	first := w.Secret
	if err := s.RotateSecret(ctx, w.ID, "whsec_c2Vjb25kLXNlY3JldC1wbGFpbnRleHQtNDI=", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := s.Pool().QueryRow(ctx, "SELECT w::text FROM webhooks w WHERE id = $1", w.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{first, strings.TrimPrefix(first, "whsec_"), "c2Vjb25kLXNlY3JldC1wbGFpbnRleHQtNDI", "second-secret"} {
		if strings.Contains(row, plain) {
			t.Errorf("secret %q is stored in plaintext: %s", plain, row)
		}
	}
	got, err := s.Webhook(ctx, w.ID)
	if err != nil || got.Secret != "whsec_c2Vjb25kLXNlY3JldC1wbGFpbnRleHQtNDI=" || got.PreviousSecret != first {
		t.Errorf("secrets read back as %q, %q (%v)", got.Secret, got.PreviousSecret, err)
	}
}

// TestHostileResponseIsRecorded records an attempt whose response holds what
// PostgreSQL's text cannot (NUL, invalid UTF-8) and is longer than what is kept: it is
// recorded, with those bytes replaced, rather than failing again at every retry.
func TestHostileResponseIsRecorded(t *testing.T) {
	t.Parallel()
	s, _, ids := publishedStore(t, 1)
	ctx := t.Context()
	id := ids[0]
	body := "nul\x00 bad\xff " + strings.Repeat("é", herald.MaxResponseBody)
	_, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "w", Status: herald.StatusPending, NextAttemptAt: at.Add(time.Minute),
		Attempt: herald.Attempt{DeliveryID: id, At: at, StatusCode: 500, Error: "bad\x00error\xfe", ResponseBody: body,
			ResponseHeaders: http.Header{"X-Evil\x00": {"v\x00\xff"}}}})
	if err != nil {
		t.Fatalf("record a hostile response: %v", err)
	}
	d, err := s.Delivery(ctx, id)
	if err != nil || len(d.Attempts) != 1 {
		t.Fatalf("delivery: %v, %+v", err, d)
	}
	a := d.Attempts[0]
	if !strings.HasPrefix(a.ResponseBody, "nul\uFFFD bad\uFFFD é") || len(a.ResponseBody) > herald.MaxResponseBody ||
		!strings.HasSuffix(a.ResponseBody, "é") {
		t.Errorf("response body kept as %q… (%d bytes), want NUL and bad bytes replaced, cut at a character within %d bytes",
			a.ResponseBody[:20], len(a.ResponseBody), herald.MaxResponseBody)
	}
	if a.Error != "bad\uFFFDerror\uFFFD" || a.ResponseHeaders.Get("X-Evil\uFFFD") != "v\uFFFD\uFFFD" {
		t.Errorf("error %q, headers %v: want NUL and bad bytes replaced", a.Error, a.ResponseHeaders)
	}
}

// waitListening waits until n connections to the database of pool are listening.
func waitListening(t *testing.T, pool interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var listening int
		err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query LIKE 'LISTEN %'`).Scan(&listening)
		if err == nil && listening >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections listening after 10 s (err %v), want %d", listening, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listen runs s.Listen until the test ends and returns what it hears, once it has heard
// the zero time that starting to listen calls due with (work committed before it may be
// due now).
func listen(t *testing.T, s *postgres.Store) <-chan time.Time {
	t.Helper()
	heard := make(chan time.Time, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func(at time.Time) { heard <- at }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("listen returned %v, want nil when its context ends", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("listen did not return within 5 s of its context ending")
		}
	})
	if at := hear(t, heard, "starting to listen"); !at.IsZero() {
		t.Fatalf("starting to listen called due with %v, want the zero time", at)
	}
	return heard
}

// hear waits for a notice and returns when it says the work is due.
func hear(t *testing.T, heard <-chan time.Time, what string) time.Time {
	t.Helper()
	select {
	case at := <-heard:
		return at
	case <-time.After(10 * time.Second):
		t.Fatalf("no notice within 10 s of %s", what)
		return time.Time{}
	}
}

// hearNothing fails t if a notice arrives within a while.
func hearNothing(t *testing.T, heard <-chan time.Time, what string) {
	t.Helper()
	select {
	case at := <-heard:
		t.Errorf("a notice (due %v) after %s, want none", at, what)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestListen has one store listen while another commits work: each commit that makes
// deliveries due is heard, once, with when they are due; a transaction rolled back is not
// heard and leaves nothing behind.
func TestListen(t *testing.T) {
	t.Parallel()
	u := freshDatabase(t)
	a, b := open(t, u), open(t, u)
	ctx := t.Context()
	heard := listen(t, b)
	waitListening(t, a.Pool(), 1)
	addWebhooks(t, a, 2)

	// A publish is heard, due when the events were accepted.
	rs, err := a.Publish(ctx, events(3, at))
	if err != nil {
		t.Fatal(err)
	}
	if got := hear(t, heard, "a publish"); !got.Equal(at) {
		t.Errorf("publish heard due at %v, want %v", got, at)
	}
	hearNothing(t, heard, "the one notice of a publish")

	// A publish in the caller's transaction, rolled back: nothing.
	tx, err := a.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack := events(2, at)
	if _, err := postgres.PublishTx(ctx, tx, rolledBack); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	hearNothing(t, heard, "a rolled back PublishTx")
	for _, p := range rolledBack {
		if _, err := a.Event(ctx, p.Event.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Errorf("event %s of a rolled back PublishTx: err %v, want ENOTFOUND", p.Event.ID, err)
		}
	}

	// Committed, with the caller's own write: heard, and exactly its events are there.
	tx, err = a.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE orders (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	committed := events(2, at.Add(time.Second))
	results, err := postgres.PublishTx(ctx, tx, committed)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hear(t, heard, "a committed PublishTx"); !got.Equal(at.Add(time.Second)) {
		t.Errorf("PublishTx heard due at %v, want %v", got, at.Add(time.Second))
	}
	for i, p := range committed {
		if _, err := b.Event(ctx, p.Event.ID); err != nil {
			t.Errorf("event %s of a committed PublishTx: %v", p.Event.ID, err)
		}
		if results[i].Deliveries != 2 {
			t.Errorf("PublishTx result %d: %d deliveries, want 2", i, results[i].Deliveries)
		}
	}
	if _, total, err := b.Deliveries(ctx, herald.DeliveryFilter{}); err != nil || total != 3*2+2*2 {
		t.Errorf("%d deliveries stored (err %v), want those of the publish and the committed PublishTx: %d", total, err, 3*2+2*2)
	}

	// A retry scheduled by an attempt is heard due at its time; a final failure is not.
	id := rs[0].DeliveryIDs[0]
	next := at.Add(5 * time.Minute)
	if _, err := a.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "w", Status: herald.StatusPending, NextAttemptAt: next,
		Attempt: herald.Attempt{DeliveryID: id, At: at, StatusCode: 500}}); err != nil {
		t.Fatal(err)
	}
	if got := hear(t, heard, "a scheduled retry"); !got.Equal(next) {
		t.Errorf("retry heard due at %v, want %v", got, next)
	}
	if _, err := a.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "w", Status: herald.StatusFailed,
		Attempt: herald.Attempt{DeliveryID: id, At: next, StatusCode: 500}}); err != nil {
		t.Fatal(err)
	}
	hearNothing(t, heard, "a final failure")

	// Requeued and released work is heard, due now.
	d, err := a.Delivery(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Requeue(ctx, d.WebhookID, at, time.Time{}, at.Add(time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("requeue = %d, %v", n, err)
	}
	hear(t, heard, "a requeue")
	if _, err := a.ClaimDue(ctx, herald.ClaimRequest{Owner: "w", Now: at.Add(time.Hour), LeaseUntil: at.Add(2 * time.Hour), Limit: 1}); err != nil {
		t.Fatal(err)
	}
	hearNothing(t, heard, "a claim")
	if err := a.ReleaseClaims(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	hear(t, heard, "claims released")
}

// TestConnectionsKilled kills every connection to the store's database, its pool's and
// its listener's, in the middle of a run: the store works again by itself (operations may
// fail with EUNAVAILABLE meanwhile, nothing else), and Listen connects again, says work
// may be due, and hears later notices.
func TestConnectionsKilled(t *testing.T) {
	t.Parallel()
	u := freshDatabase(t)
	s := open(t, u)
	ctx := t.Context()
	heard := listen(t, s)
	waitListening(t, s.Pool(), 1)
	w := addWebhooks(t, s, 1)[0]
	if _, err := s.Publish(ctx, events(1, at)); err != nil {
		t.Fatal(err)
	}
	hear(t, heard, "a publish")
	// Fill the pool, so that every connection it holds dies.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Pool().Exec(ctx, "SELECT pg_sleep(0.05)"); err != nil {
				t.Errorf("fill the pool: %v", err)
			}
		})
	}
	wg.Wait()
	if idle := s.Pool().Stat().IdleConns(); idle < 2 {
		t.Fatalf("the pool holds %d idle connections, want several to kill", idle)
	}

	execAdmin(t, u, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	killed := time.Now()

	ops := []struct {
		name string
		run  func() error
	}{
		{"publish", func() error { _, err := s.Publish(ctx, events(1, at)); return err }},
		{"webhook", func() error { _, err := s.Webhook(ctx, w.ID); return err }},
		{"claim", func() error {
			_, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "w", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 10, PerWebhook: 5})
			return err
		}},
		{"deliveries", func() error { _, _, err := s.Deliveries(ctx, herald.DeliveryFilter{}); return err }},
		{"ping", func() error { return s.Ping(ctx) }},
	}
	for _, op := range ops {
		failures := 0
		for {
			err := op.run()
			if err == nil {
				break
			}
			failures++
			t.Logf("%s: %v", op.name, err)
			if code := herald.ErrorCode(err); code != herald.EUNAVAILABLE {
				t.Fatalf("%s after the connections were killed: code %s (%v), want EUNAVAILABLE or success", op.name, code, err)
			}
			if time.Since(killed) > 15*time.Second {
				t.Fatalf("%s still fails 15 s after the connections were killed: %v", op.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s works again after %d failures", op.name, failures)
	}

	if got := hear(t, heard, "killing every connection"); !got.IsZero() {
		t.Errorf("the first notice after the listener's connection was killed is due %v, want the zero time", got)
	}
	t.Logf("listen reconnected within %v", time.Since(killed))
	waitListening(t, s.Pool(), 1)
	// Drain what the publishes above sent while the listener was away or reconnecting.
	for len(heard) > 0 {
		<-heard
	}
	later := at.Add(time.Hour)
	if _, err := s.Publish(ctx, events(1, later)); err != nil {
		t.Fatal(err)
	}
	for {
		got := hear(t, heard, "a publish after reconnecting")
		if got.Equal(later) {
			break
		}
		if !got.Equal(at) { // a straggler of the publish above
			t.Fatalf("heard due %v after reconnecting, want %v", got, later)
		}
	}

	// An outage: the database refuses connections for a while. Meanwhile every operation
	// fails with EUNAVAILABLE, so the API answers 503; once the database is back, the
	// store and Listen work again by themselves.
	name := strings.TrimPrefix(u.Path, "/")
	db := pgx.Identifier{name}.Sanitize()
	execAdmin(t, baseURL(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"'")
	for _, op := range ops {
		if err := op.run(); herald.ErrorCode(err) != herald.EUNAVAILABLE {
			t.Errorf("%s while the database refuses connections: code %q (%v), want EUNAVAILABLE", op.name, herald.ErrorCode(err), err)
		}
	}
	execAdmin(t, baseURL(t), "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	back := time.Now()
	for _, op := range ops {
		if err := op.run(); err != nil {
			t.Errorf("%s once the database is back: %v", op.name, err)
		}
	}
	if got := hear(t, heard, "the database coming back"); !got.IsZero() {
		t.Errorf("the first notice after the outage is due %v, want the zero time", got)
	}
	t.Logf("listen reconnected %v after the database came back", time.Since(back))
}

// TestDisableWaitsForPublish disables a webhook while a transaction that published to it
// is still open: the disable waits for that transaction, and then fails the delivery it
// added, instead of leaving it pending for a disabled webhook.
func TestDisableWaitsForPublish(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	ctx := t.Context()
	w := addWebhooks(t, s, 1)[0]

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // committed below; this is for a failed test
	rs, err := postgres.PublishTx(ctx, tx, events(1, at))
	if err != nil || rs[0].Deliveries != 1 {
		t.Fatalf("publish: %v, %+v", err, rs)
	}

	disabled := make(chan error, 1)
	go func() {
		off := *w
		off.Enabled, off.DisabledReason, off.UpdatedAt = false, "paused", time.Time{}
		disabled <- s.UpdateWebhook(ctx, &off)
	}()
	// Wait until the disable waits for the publish's lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT enabled, updated_at FROM webhooks%'`).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-disabled:
			t.Fatalf("the disable finished (err %v) while a transaction that published to the webhook was open", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the disable is not waiting for the publish after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-disabled; err != nil {
		t.Fatalf("disable: %v", err)
	}
	d, err := s.Delivery(ctx, rs[0].DeliveryIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != herald.StatusFailed || !strings.Contains(d.LastError, "webhook disabled") {
		t.Errorf("the delivery published as the webhook was disabled is %s (%q), want failed by the disable", d.Status, d.LastError)
	}
}

// TestClaimSkipsLockedDeliveries holds a row lock on the oldest due delivery, as a claim
// in another process does while it leases it: a claim meanwhile does not wait for it,
// and takes the others.
func TestClaimSkipsLockedDeliveries(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	ctx := t.Context()
	addWebhooks(t, s, 1)
	var ids []string
	for i := range 3 {
		rs, err := s.Publish(ctx, events(1, at.Add(time.Duration(i)*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rs[0].DeliveryIDs[0])
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a lock holder, rolled back
	if _, err := tx.Exec(ctx, "SELECT id FROM deliveries WHERE id = $1 FOR NO KEY UPDATE", ids[0]); err != nil {
		t.Fatal(err)
	}

	for _, perWebhook := range []int{0, 5} {
		claimCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cs, err := s.ClaimDue(claimCtx, herald.ClaimRequest{Owner: fmt.Sprint("w", perWebhook), Now: at.Add(time.Minute),
			LeaseUntil: at.Add(time.Hour), Limit: 10, PerWebhook: perWebhook})
		cancel()
		if err != nil {
			t.Fatalf("claim (per webhook %d) while another transaction locks a due delivery: %v", perWebhook, err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.Delivery.ID)
		}
		if want := ids[1:]; perWebhook == 0 && !slices.Equal(got, want) {
			t.Errorf("claimed %v, want the deliveries nobody locks, %v", got, want)
		}
		if perWebhook != 0 && len(got) != 0 {
			t.Errorf("claimed %v again", got) // the first claim holds them
		}
	}
}

// TestConcurrentRepeatsPublishOnce publishes one event id, and then one idempotency key
// under different ids, from many goroutines and two stores at once: one publish stores
// the event and its deliveries, and every other one gets its result as a duplicate.
func TestConcurrentRepeatsPublishOnce(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	stores := []*postgres.Store{open(t, u), open(t, u)}
	addWebhooks(t, stores[0], 2)
	for _, tc := range []struct {
		name string
		pub  func(i int) herald.Publication
	}{
		{"SameID", func(int) herald.Publication { return events(1, at)[0] }},
		{"SameKey", func(int) herald.Publication {
			p := events(1, at)[0]
			p.IdempotencyKey = "key-1"
			return p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.pub(0)
			const n = 8
			results := make([]herald.PublishResult, n)
			var wg sync.WaitGroup
			for i := range n {
				p := first
				if tc.name == "SameKey" {
					p.Event.ID = herald.NewID(herald.PrefixEvent)
				}
				wg.Go(func() {
					rs, err := stores[i%2].Publish(t.Context(), []herald.Publication{p})
					if err != nil {
						t.Errorf("publish %d: %v", i, err)
						return
					}
					results[i] = rs[0]
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			fresh := 0
			for _, r := range results {
				if !r.Duplicate {
					fresh++
				}
				if r.EventID != results[0].EventID || r.Deliveries != 2 || !slices.Equal(slices.Sorted(slices.Values(r.DeliveryIDs)),
					slices.Sorted(slices.Values(results[0].DeliveryIDs))) {
					t.Errorf("result %+v differs from %+v", r, results[0])
				}
			}
			if fresh != 1 {
				t.Errorf("%d of %d concurrent repeats were published anew, want 1", fresh, n)
			}
			if _, total, err := stores[0].Deliveries(t.Context(), herald.DeliveryFilter{EventID: results[0].EventID}); err != nil || total != 2 {
				t.Errorf("the event has %d deliveries (err %v), want 2", total, err)
			}
		})
	}
}

// TestPerWebhookAboveLimit caps a webhook at 50 leased at once while 48 are, and claims
// 3: the claim takes the 2 the cap leaves room for, not none.
func TestPerWebhookAboveLimit(t *testing.T) {
	t.Parallel()
	s, _, _ := publishedStore(t, 60)
	ctx := t.Context()
	now := at.Add(time.Minute)
	claim := func(owner string, limit int) int {
		cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit, PerWebhook: 50})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	if n := claim("a", 48); n != 48 {
		t.Fatalf("first claim took %d, want 48", n)
	}
	if n := claim("b", 3); n != 2 {
		t.Errorf("a claim of 3 with room for 2 under the cap took %d, want 2", n)
	}
}
