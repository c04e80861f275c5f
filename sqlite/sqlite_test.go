package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
)

// open opens a store on path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, storetest.Cipher{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) herald.Store {
		return open(t, filepath.Join(t.TempDir(), "herald.db"))
	})
}

// seed creates a tenant with one webhook and publishes n events
// due at at to it, and returns the store's delivery ids.
func seed(t *testing.T, s *sqlite.Store, n int, at time.Time) []string {
	t.Helper()
	ctx := t.Context()
	tenant := herald.Tenant{ID: herald.NewID(herald.PrefixTenant), Name: "A"}
	if err := s.CreateTenant(ctx, &tenant, herald.HashKey(tenant.ID)); err != nil {
		t.Fatal(err)
	}
	w := &herald.Webhook{TenantID: tenant.ID, Name: "r", URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret()}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	var ps []herald.Publication
	for range n {
		ps = append(ps, herald.Publication{Event: herald.Event{ID: herald.NewID(herald.PrefixEvent), TenantID: tenant.ID,
			Type: "drift.detected", Data: []byte(`{}`), Timestamp: at, CreatedAt: at}})
	}
	rs, err := s.Publish(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.DeliveryIDs...)
	}
	return ids
}

// TestLeasesDieWithTheStore claims every delivery with a long lease and closes the
// store without recording or releasing anything, as a process killed mid-flight
// would: a store opened on the file next can claim all of them at once.
func TestLeasesDieWithTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	first, err := sqlite.Open(t.Context(), path, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	ids := seed(t, first, 20, at)
	req := herald.ClaimRequest{Owner: "dead", Now: at, LeaseUntil: at.Add(time.Hour), Limit: 100}
	cs, err := first.ClaimDue(t.Context(), req)
	if err != nil || len(cs) != len(ids) {
		t.Fatalf("first claim: %d claims, %v; want %d", len(cs), err, len(ids))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	next := open(t, path)
	req.Owner = "next"
	cs, err = next.ClaimDue(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(ids) {
		t.Errorf("after a restart claimed %d of the %d deliveries the dead store had leased, want all at once", len(cs), len(ids))
	}
}

// TestClaimNeverOutrunsARecord claims and records at once from many workers: a claim
// must never see a delivery whose lease was just dropped while its record is not yet
// visible to it, which would send it again. Every delivery gets exactly one attempt.
func TestClaimNeverOutrunsARecord(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "herald.db"))
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := seed(t, s, 300, at)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		owner := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				cs, err := s.ClaimDue(t.Context(), herald.ClaimRequest{Owner: owner, Now: at.Add(time.Minute),
					LeaseUntil: at.Add(time.Hour), Limit: 3})
				if err != nil || len(cs) == 0 {
					errs <- err
					return
				}
				for _, c := range cs {
					if _, err := s.RecordAttempt(t.Context(), &herald.AttemptRecord{Owner: owner, Status: herald.StatusSuccess,
						Attempt: herald.Attempt{DeliveryID: c.Delivery.ID, StatusCode: 200, Success: true, At: at.Add(time.Minute)}}); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		d, err := s.Delivery(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != herald.StatusSuccess || len(d.Attempts) != 1 {
			t.Errorf("delivery %s: %s with %d attempts, want success with exactly 1", id, d.Status, len(d.Attempts))
		}
	}
}

// TestLockDir takes a data directory twice: the second fails at once with ECONFLICT,
// naming the directory and the holder's PID, until the first lets go.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db")
	lock, err := sqlite.LockDir(db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.LockDir(db)
	if herald.ErrorCode(err) != herald.ECONFLICT || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), fmt.Sprint("process ", os.Getpid())) {
		t.Fatalf("second lock: %v; want ECONFLICT naming %s and PID %d", err, dir, os.Getpid())
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.LockDir(db)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	if err := again.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenConcurrently starts several stores on a new file at once, as processes
// started together would: each applies or waits for the migrations, none fails.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := sqlite.Open(t.Context(), path, storetest.Cipher{})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("open: %v", err)
		}
	}
}

// TestSecretsSealedOnDisk greps the database file and its WAL for a webhook's secrets:
// they must not be there in plaintext, while the webhook's name, stored alongside, is.
func TestSecretsSealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.db")
	s := open(t, path)
	ctx := t.Context()
	const (
		name     = "needle-webhook-name-7f3a"
		secret   = "whsec_bmVlZGxlLXNlY3JldC1wbGFpbnRleHQtOTk="
		rotated  = "whsec_cm90YXRlZC1zZWNyZXQtcGxhaW50ZXh0LTc3"
		previous = secret
	)
	w := &herald.Webhook{TenantID: herald.DefaultTenantID, Name: name, URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: secret}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateSecret(ctx, w.ID, rotated, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Webhook(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != rotated || got.PreviousSecret != previous {
		t.Fatalf("secrets read back as %q, %q", got.Secret, got.PreviousSecret)
	}

	var files [][]byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	all := bytes.Join(files, nil)
	if !bytes.Contains(all, []byte(name)) {
		t.Fatalf("the webhook's name is not in the database files: this test reads the wrong files")
	}
	for _, plain := range []string{secret, rotated, "bmVlZGxlLXNlY3JldC1wbGFpbnRleHQtOTk", "cm90YXRlZC1zZWNyZXQtcGxhaW50ZXh0LTc3"} {
		if bytes.Contains(all, []byte(plain)) {
			t.Errorf("secret %q is in the database file in plaintext", plain)
		}
	}
}

// TestReopenKeepsData closes a store and opens the file again: what was accepted is there.
func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "herald.db") // Open creates the folders
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	w := &herald.Webhook{TenantID: herald.DefaultTenantID, Name: "r", URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret()}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := herald.Event{ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "ping",
		Data: []byte(`{"a":1}`), Timestamp: at, CreatedAt: at}
	rs, err := s.Publish(ctx, []herald.Publication{{Event: e}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if got, err := s.Webhook(ctx, w.ID); err != nil || got.Secret != w.Secret {
		t.Errorf("webhook after reopening: %v, %v", got, err)
	}
	if got, err := s.Event(ctx, e.ID); err != nil || string(got.Data) != `{"a":1}` {
		t.Errorf("event after reopening: %v, %v", got, err)
	}
	d, err := s.Delivery(ctx, rs[0].DeliveryIDs[0])
	if err != nil || d.Status != herald.StatusPending {
		t.Errorf("delivery after reopening: %v, %v", d, err)
	}
}

// TestWrongCipherCannotOpenSecrets shows secrets are really sealed: another key cannot open them.
func TestWrongCipherCannotOpenSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	s := open(t, path)
	w := &herald.Webhook{TenantID: herald.DefaultTenantID, Name: "r", URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret()}
	if err := s.CreateWebhook(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(t.Context(), path, rot13{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	if got, err := other.Webhook(t.Context(), w.ID); err == nil && got.Secret == w.Secret {
		t.Errorf("a store with another cipher read the secret")
	}
}

// rot13 is a cipher that is not storetest.Cipher.
type rot13 struct{}

func (rot13) Seal(b []byte) ([]byte, error) { return rot(b), nil }
func (rot13) Open(b []byte) ([]byte, error) { return rot(b), nil }

func rot(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c + 13
	}
	return out
}

// TestGroupCommitIsolatesFailures publishes from many goroutines at once, so that
// writes share commits, with two in three bound to fail after writing: every good
// publish is committed whole, and no failing one leaves anything behind.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "herald.db"))
	ctx := context.Background()
	now := time.Now().UTC()
	for _, id := range []string{"team_a", "team_b"} {
		if err := s.CreateTenant(ctx, &herald.Tenant{ID: id, Name: id, CreatedAt: now}, herald.HashKey(id)); err != nil {
			t.Fatal(err)
		}
	}
	wh := &herald.Webhook{ID: "wh_a", TenantID: "team_a", Name: "a", URL: "https://example.com", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateWebhook(ctx, wh); err != nil {
		t.Fatal(err)
	}
	event := func(id, tenant string) herald.Event {
		return herald.Event{ID: id, TenantID: tenant, Type: "drift.detected", Data: []byte(`{}`), Timestamp: now, CreatedAt: now}
	}
	if _, err := s.Publish(ctx, []herald.Publication{{Event: event("evt_taken", "team_b")}}); err != nil {
		t.Fatal(err)
	}

	const n = 90
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each publish is evt_i, followed in the same call by a bad event for
			// two in three: then evt_i is written before the failure and must go.
			ps := []herald.Publication{{Event: event(fmt.Sprintf("evt_%d", i), "team_a")}}
			switch i % 3 {
			case 1: // another tenant's id: ECONFLICT
				ps = append(ps, herald.Publication{Event: event("evt_taken", "team_a")})
			case 2: // no such webhook: ENOTFOUND
				ps = append(ps, herald.Publication{Event: event(fmt.Sprintf("evt_t%d", i), "team_a"), Target: "wh_missing"})
			}
			_, errs[i] = s.Publish(ctx, ps)
		})
	}
	wg.Wait()

	for i, err := range errs {
		want := []string{"", herald.ECONFLICT, herald.ENOTFOUND}[i%3]
		if got := herald.ErrorCode(err); got != want {
			t.Fatalf("publish %d: code %q (%v), want %q", i, got, err, want)
		}
		_, readErr := s.Event(ctx, fmt.Sprintf("evt_%d", i))
		if stored := readErr == nil; stored != (i%3 == 0) {
			t.Fatalf("publish %d (code %q): event stored %v", i, want, stored)
		}
	}
	ds, total, err := s.Deliveries(ctx, herald.DeliveryFilter{WebhookID: "wh_a", PerPage: 100})
	if err != nil || total != n/3 || len(ds) != n/3 {
		t.Fatalf("deliveries: %d (total %d, err %v), want one per good publish: %d", len(ds), total, err, n/3)
	}
}

// TestUnreadableWebhookDoesNotStallClaims reopens a store under another encryption key:
// the webhook sealed under the old key cannot be read, its delivery fails saying why,
// and the deliveries of a readable webhook are claimed as usual.
func TestUnreadableWebhookDoesNotStallClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	now := time.Now().UTC()
	hook := func(id string) *herald.Webhook {
		return &herald.Webhook{ID: id, TenantID: "team_a", Name: id, URL: "https://example.com", Enabled: true,
			Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now}
	}
	first, err := sqlite.Open(ctx, path, storetest.Cipher{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.CreateTenant(ctx, &herald.Tenant{ID: "team_a", Name: "A", CreatedAt: now}, herald.HashKey("a")); err != nil {
		t.Fatal(err)
	}
	if err := first.CreateWebhook(ctx, hook("wh_old_key")); err != nil {
		t.Fatal(err)
	}
	first.Close()

	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateWebhook(ctx, hook("wh_new_key")); err != nil {
		t.Fatal(err)
	}
	res, err := s.Publish(ctx, []herald.Publication{{Event: herald.Event{TenantID: "team_a", Type: "drift.detected", Data: []byte(`{}`), CreatedAt: now}}})
	if err != nil || res[0].Deliveries != 2 {
		t.Fatalf("publish: %v, %+v", err, res)
	}
	claims, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if len(claims) != 1 || claims[0].Webhook.ID != "wh_new_key" {
		t.Fatalf("claimed %d deliveries, want only the readable webhook's", len(claims))
	}
	ds, _, err := s.Deliveries(ctx, herald.DeliveryFilter{WebhookID: "wh_old_key"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries of the unreadable webhook: %v %d", err, len(ds))
	}
	if d := ds[0]; d.Status != herald.StatusFailed || !strings.Contains(d.LastError, "--encryption-key") {
		t.Fatalf("unreadable webhook's delivery: %s %q, want failed naming --encryption-key", d.Status, d.LastError)
	}
}
