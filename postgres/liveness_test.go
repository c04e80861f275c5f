package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// fakeProcess registers a process the way a store does, on a connection of its own
// that holds the process's advisory lock, and leases deliveryID to it until the far
// future, as that process's claim would. Closing the connection is the process dying.
func fakeProcess(t *testing.T, dsn, id, webhookID, deliveryID string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) //nolint:errcheck // closed already, usually
	key := time.Now().UnixNano()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT pg_advisory_lock($1)", []any{key}},
		{"INSERT INTO processes (id, lock_key, alive_until, started_at) VALUES ($1, $2, now() + interval '1 hour', now())", []any{id, key}},
		{"INSERT INTO leases (delivery_id, webhook_id, owner, process, until) VALUES ($1, $2, $3, $3, $4)",
			[]any{deliveryID, webhookID, id, at.Add(100 * 365 * 24 * time.Hour)}},
	} {
		if _, err := conn.Exec(t.Context(), q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return conn
}

// TestDeadProcessLeasesExpire leases deliveries to processes that then die, one by
// losing its heartbeat (its alive_until passes while its connection stays open: a host
// gone silent) and one by losing its connection (a crash, a SIGKILL): from that moment
// their leases, long as they are, no longer count against the per-webhook cap nor make
// ClaimDelivery answer ECONFLICT, and a claim takes the deliveries.
func TestDeadProcessLeasesExpire(t *testing.T) {
	t.Parallel()
	u := freshSchema(t)
	s := open(t, u)
	ctx := t.Context()
	w := addWebhooks(t, s, 1)[0]
	rs, err := s.Publish(ctx, events(2, at))
	if err != nil {
		t.Fatal(err)
	}
	silent, crashed := rs[0].DeliveryIDs[0], rs[1].DeliveryIDs[0]
	dsn := plainURL(u)
	silentConn := fakeProcess(t, dsn, "proc_silent", w.ID, silent)
	crashedConn := fakeProcess(t, dsn, "proc_crashed", w.ID, crashed)

	now := at.Add(time.Minute)
	claimDue := func() []string {
		t.Helper()
		cs, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "survivor", Now: now, LeaseUntil: now.Add(time.Minute),
			Limit: 10, PerWebhook: 2})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.Delivery.ID)
		}
		return ids
	}
	if got := claimDue(); len(got) != 0 {
		t.Fatalf("claimed %v while living processes hold the webhook's cap of 2", got)
	}
	for _, id := range []string{silent, crashed} {
		if _, err := s.ClaimDelivery(ctx, id, "manual", now, now.Add(time.Minute)); herald.ErrorCode(err) != herald.ECONFLICT {
			t.Fatalf("claim delivery %s leased by a living process: %v, want ECONFLICT", id, err)
		}
	}

	// The silent host: its heartbeat stops, its connection stays. The moment its
	// alive_until passes, before any survivor's heartbeat removes it, its lease is
	// expired: the claim that follows at once takes the delivery.
	if _, err := silentConn.Exec(ctx, "UPDATE processes SET alive_until = now() WHERE id = 'proc_silent'"); err != nil {
		t.Fatal(err)
	}
	if got := claimDue(); len(got) != 1 || got[0] != silent {
		t.Fatalf("after the silent process's alive_until passed claimed %v, want %s", got, silent)
	}

	// The crash: its connection closes, its advisory lock with it. A survivor's
	// heartbeat finds it dead within a second or so; a manual retry then takes it.
	if err := crashedConn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		_, err := s.ClaimDelivery(ctx, crashed, "manual", now, now.Add(time.Minute))
		if err == nil {
			break
		}
		if herald.ErrorCode(err) != herald.ECONFLICT {
			t.Fatal(err)
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("the crashed process's lease still holds %v after its connection closed", time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the crashed process's lease was taken over %v after its connection closed", time.Since(killed).Round(time.Millisecond))
	var left int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM processes WHERE id IN ('proc_silent', 'proc_crashed')").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d dead processes still registered, want them removed by the survivor's heartbeat", left)
	}
}
