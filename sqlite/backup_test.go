package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/sqlite"
)

// TestBackupWhileWriting copies the database while a writer publishes into it: the
// copy opens as a store, holds every event published before the backup began, and
// every delivery in it has its event.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.db")
	s := open(t, path)
	ctx := t.Context()
	w := &herald.Webhook{TenantID: herald.DefaultTenantID, Name: "b", URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret(), Events: []string{"drift.detected"}}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		at := time.Now().UTC()
		_, err := s.Publish(ctx, []herald.Publication{{
			Event: herald.Event{ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID,
				Type: "drift.detected", Data: []byte(`{}`), Timestamp: at, CreatedAt: at},
		}})
		return err
	}
	for range 50 {
		if err := publish(); err != nil {
			t.Fatal(err)
		}
	}

	var published atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := publish(); err != nil {
				t.Errorf("publish during the backup: %v", err)
				return
			}
			published.Add(1)
		}
	})
	waitUntilN(t, &published, 20)
	out := filepath.Join(dir, "copy.db")
	err := sqlite.Backup(ctx, path, out)
	waitUntilN(t, &published, published.Load()+20) // the writer was never blocked for good
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}

	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600: it holds key hashes and sealed secrets", fi.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(out + ".tmp-*")
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	c := open(t, out)
	got, err := c.Webhook(ctx, w.ID)
	if err != nil {
		t.Fatalf("the webhook in the copy: %v", err)
	}
	if got.Secret != w.Secret {
		t.Errorf("the copy's secret opens as %q, want %q", got.Secret, w.Secret)
	}
	ds, total, err := c.Deliveries(ctx, herald.DeliveryFilter{WebhookID: w.ID, PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	if total < 70 {
		t.Errorf("the copy holds %d deliveries, want at least the 70 published before it began", total)
	}
	for _, d := range ds {
		if _, err := c.Event(ctx, d.EventID); err != nil {
			t.Errorf("delivery %s in the copy has no event %s: %v", d.ID, d.EventID, err)
		}
	}
}

// TestBackupRefuses checks what Backup will not do: overwrite a file, or copy a
// database that is not there (creating one on the way).
func TestBackupRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.db")
	s := open(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := sqlite.Backup(t.Context(), path, existing)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: %v, want an error saying it exists", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file now holds %q", b)
	}

	missing := filepath.Join(dir, "missing.db")
	err = sqlite.Backup(t.Context(), missing, filepath.Join(dir, "out.db"))
	if err == nil {
		t.Error("backup of a missing database succeeded")
	}
	for _, p := range []string{missing, filepath.Join(dir, "out.db")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed backup", p)
		}
	}

	// A closed store has checkpointed and removed its WAL: the read-only copy still works.
	out := filepath.Join(dir, "closed.db")
	if err := sqlite.Backup(context.Background(), path, out); err != nil {
		t.Fatalf("backup of a closed database: %v", err)
	}
}

func waitUntilN(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes in 30s, want %d", n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
