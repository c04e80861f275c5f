package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// nopCipher keeps these white-box tests free of the storetest import.
type nopCipher struct{}

func (nopCipher) Seal(b []byte) ([]byte, error) { return b, nil }
func (nopCipher) Open(b []byte) ([]byte, error) { return b, nil }

func openStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.db")
	s, err := Open(context.Background(), path, nopCipher{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// queryPlan returns the EXPLAIN QUERY PLAN details of q, one per line.
func queryPlan(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatalf("explain: %v", err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(lines, "\n")
}

// fillBacklog adds webhooks and pending deliveries, all due by the time deliveries+1
// (in microseconds), spread over the webhooks, and runs ANALYZE so the planner sees a
// backlog's statistics. With heavy, wh_1 has all but the last 1,000 deliveries, the way
// one slow endpoint hoards a backlog.
func fillBacklog(tb testing.TB, s *Store, webhooks, deliveries int, heavy bool) {
	tb.Helper()
	series := "WITH RECURSIVE series(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM series WHERE value < ?) "
	webhook := "'wh_' || (value % " + strconv.Itoa(webhooks) + " + 1)"
	if heavy {
		webhook = "CASE WHEN value <= " + strconv.Itoa(deliveries-1000) + " THEN 'wh_1' ELSE " + webhook + " END"
	}
	for _, step := range []struct {
		q string
		n int
	}{
		{series + `INSERT INTO webhooks (id, tenant_id, name, url, enabled, format, created_at, updated_at, secret)
			SELECT 'wh_' || value, 't', 'w', 'https://r.example', 1, 'standard', 0, 0, x'00' FROM series`, webhooks},
		{series + `INSERT INTO events (id, tenant_id, type, data, timestamp, created_at)
			SELECT 'evt_' || value, 't', 'drift.detected', '{}', value, value FROM series`, 1000},
		{series + `INSERT INTO deliveries (id, event_id, webhook_id, tenant_id, event_type, status,
				next_attempt_at, created_at, updated_at)
			SELECT 'del_' || value, 'evt_' || (value % 1000 + 1), ` + webhook + `,
				't', 'drift.detected', 'pending', value, value, value
			FROM series`, deliveries},
		{"ANALYZE", 0},
	} {
		args := []any{step.n}
		if step.n == 0 {
			args = nil
		}
		if _, err := s.write.Exec(step.q, args...); err != nil {
			tb.Fatalf("fill backlog: %v", err)
		}
	}
}

// TestClaimPlans guards ClaimDue's cost on a large backlog. In due order, it must walk
// deliveries_due with deliveries as the outer loop and stop at the limit, never scan or
// sort the deliveries table: left to itself, with these statistics, SQLite loops over
// the webhooks and sorts all their deliveries instead. Webhook by webhook, it must seek
// each webhook's due deliveries in deliveries_webhook_due.
func TestClaimPlans(t *testing.T) {
	s, _ := openStore(t)
	fillBacklog(t, s, 100, 20000, false)

	plan := queryPlan(t, s.write, dueInOrder, 1, 10, `["del_1"]`)
	due, webhook := strings.Index(plan, "SEARCH d USING INDEX deliveries_due"), strings.Index(plan, "SEARCH w USING")
	if due < 0 || webhook < due {
		t.Errorf("due-order claim does not walk deliveries_due with webhooks inside; plan:\n%s", plan)
	}
	for _, bad := range []string{"SCAN d", "SCAN w", "TEMP B-TREE"} {
		if strings.Contains(plan, bad) {
			t.Errorf("due-order claim plan has %q; plan:\n%s", bad, plan)
		}
	}

	plan = queryPlan(t, s.write, dueByWebhook, 1, `["wh_1"]`, 8, 10, `["tn_1"]`, `["del_1"]`)
	if !strings.Contains(plan, "SEARCH x USING INDEX deliveries_webhook_due (webhook_id=? AND next_attempt_at<?)") {
		t.Errorf("webhook-by-webhook claim does not seek deliveries_webhook_due; plan:\n%s", plan)
	}
	for _, bad := range []string{"SCAN d", "SCAN x"} {
		if strings.Contains(plan, bad) {
			t.Errorf("webhook-by-webhook claim plan has %q; plan:\n%s", bad, plan)
		}
	}
}

// TestRequeuePlan checks that a requeue seeks the webhook's deliveries in creation
// order, and each purged one's event by its key, whatever the range asked.
func TestRequeuePlan(t *testing.T) {
	s, _ := openStore(t)
	fillBacklog(t, s, 10, 2000, false)
	for _, until := range []any{nil, int64(100)} {
		plan := queryPlan(t, s.write, requeueQuery, 1, 1, "wh_1", 0, until, 100)
		if !strings.Contains(plan, "SEARCH d USING INDEX deliveries_webhook_newest (webhook_id=? AND created_at>?)") &&
			!strings.Contains(plan, "SEARCH d USING INDEX deliveries_webhook_due (webhook_id=? AND status=?)") {
			t.Errorf("requeue (until %v) does not seek the webhook's deliveries by index; plan:\n%s", until, plan)
		}
		for _, bad := range []string{"SCAN d", "SCAN e", "SCAN deliveries"} {
			if strings.Contains(plan, bad) {
				t.Errorf("requeue (until %v) plan has %q; plan:\n%s", until, bad, plan)
			}
		}
	}
}

// BenchmarkClaimDue claims from a backlog of a million due deliveries, as a dispatcher
// does after an outage: a claim must cost about what it costs on an empty table, also
// when one skipped or capped webhook holds most of the backlog.
// Run with: go test ./sqlite -run '^$' -bench ClaimDue -benchtime 500x
func BenchmarkClaimDue(b *testing.B) {
	const backlog = 1_000_000
	for _, bc := range []struct {
		name  string
		heavy bool
		req   herald.ClaimRequest
	}{
		{"Spread", false, herald.ClaimRequest{Limit: 10, PerWebhook: 8, SkipWebhooks: []string{"wh_1", "wh_2"}}},
		{"OneWebhookSkipped", true, herald.ClaimRequest{Limit: 10, SkipWebhooks: []string{"wh_1"}}},
		{"OneWebhookCapped", true, herald.ClaimRequest{Limit: 10, PerWebhook: 2}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := openStore(b)
			fillBacklog(b, s, 100, backlog, bc.heavy)
			ctx := context.Background()
			r := bc.req
			// Leases that end at once: every claim finds the same backlog.
			r.Now = time.UnixMicro(backlog + 1)
			r.LeaseUntil = r.Now
			i := 0
			for b.Loop() {
				i++
				r.Owner = "o" + strconv.Itoa(i)
				cs, err := s.ClaimDue(ctx, r)
				if err != nil || len(cs) != r.Limit {
					b.Fatalf("claim: %d, %v", len(cs), err)
				}
			}
		})
	}
}

// TestUnavailable checks that a write lock held past the busy timeout comes back as
// EUNAVAILABLE, so the API can answer 503.
func TestUnavailable(t *testing.T) {
	_, path := openStore(t)
	holder, err := sql.Open("sqlite", dsn(path, []string{"busy_timeout(0)"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	holder.SetMaxOpenConns(1)
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.Exec("INSERT INTO settings (name, value) VALUES ('x', x'00')"); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", dsn(path, []string{"busy_timeout(0)"}, "_txlock=immediate"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	_, err = other.Begin()
	if err == nil {
		t.Fatal("BEGIN IMMEDIATE succeeded while another connection holds the write lock")
	}
	if got := herald.ErrorCode(unavailable(err)); got != herald.EUNAVAILABLE {
		t.Errorf("locked database: code %q, want %q (error %v)", got, herald.EUNAVAILABLE, err)
	}
	if got := herald.ErrorCode(unavailable(sql.ErrNoRows)); got == herald.EUNAVAILABLE {
		t.Errorf("sql.ErrNoRows mapped to %q", got)
	}
}

// TestGroupCommitSurvivesPanic runs writes that share commits, one of which panics: it
// alone fails, the others are committed, and the writer goes on serving.
func TestGroupCommitSurvivesPanic(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "herald.db"), nopCipher{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.inTx(ctx, "test", func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)", fmt.Sprint("k", i), []byte("v")); err != nil {
					return err
				}
				if i%10 == 0 {
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		_, getErr := s.Setting(ctx, fmt.Sprint("k", i))
		if panicked := i%10 == 0; panicked != (err != nil) || panicked != (getErr != nil) {
			t.Errorf("write %d (panics: %v): error %v, stored %v", i, panicked, err, getErr == nil)
		}
	}
	if err := s.PutSetting(ctx, "after", []byte("ok")); err != nil {
		t.Fatalf("the writer stopped serving after a panic: %v", err)
	}
}
