package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
)

// TestBackupUnderLoad backs up a running `herald serve` process's database while
// publishers publish to two webhooks and deliveries flow, then opens the copy and
// checks it is one consistent snapshot: every event acknowledged before the backup
// began is in it, every event has a delivery per subscriber, every delivery its event,
// every attempt its delivery, the counts printed are the copy's, and the webhooks'
// secrets open with the server's key.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a real server")
	}
	bin := buildHerald(t)
	dataDir := t.TempDir()
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // keep some attempts in flight during the backup
		received.Add(1)
	}))
	t.Cleanup(srv.Close)

	p := startProcess(t, bin, dataDir, "--poll-interval", "50ms")
	webhooks := map[string]string{} // id → secret
	for _, name := range []string{"first", "second"} {
		var wh webhookResource
		if code := api(t, p.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": name, "url": srv.URL, "format": "frugally",
		}, &wh); code != 201 {
			t.Fatalf("create webhook %s: %d", name, code)
		}
		webhooks[wh.ID] = wh.Secret
	}

	pub := publishSteadily("backup", 4, func(int) string { return p.URL })
	t.Cleanup(func() {
		select {
		case <-pub.done:
		default:
			pub.stop()
		}
	})
	if !waitUntil(60*time.Second, func() bool { return pub.ackCount.Load() >= 200 && received.Load() >= 100 }) {
		t.Fatalf("before the backup: %d acknowledged, %d delivered in 60s", pub.ackCount.Load(), received.Load())
	}
	var ackedBefore []string
	pub.acked.Range(func(k, _ any) bool { ackedBefore = append(ackedBefore, k.(string)); return true })

	output := filepath.Join(t.TempDir(), "herald-backup.db")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(t.Context(), []string{"backup", "--data-dir", dataDir, "--output", output}, &stdout, &stderr, func(string) string { return "" })
	took := time.Since(start)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr.String())
	}
	ackedAtEnd := pub.ackCount.Load()
	// The server goes on accepting and delivering: the backup held no lock it waits on.
	if !waitUntil(30*time.Second, func() bool { return pub.ackCount.Load() >= ackedAtEnd+50 }) {
		t.Fatalf("after the backup the server acknowledged %d more events in 30s, want 50", pub.ackCount.Load()-ackedAtEnd)
	}
	pub.stop()

	db := openReadOnly(t, output)
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	events, deliveries, attempts := count("SELECT COUNT(*) FROM events"), count("SELECT COUNT(*) FROM deliveries"), count("SELECT COUNT(*) FROM attempts")
	if attempts == 0 {
		t.Fatal("the copy holds no attempts: deliveries were not flowing during the backup")
	}
	for _, id := range ackedBefore {
		if count("SELECT COUNT(*) FROM events WHERE id = ?", id) != 1 {
			t.Errorf("event %s, acknowledged before the backup began, is not in the copy", id)
		}
	}
	if n := count("SELECT COUNT(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id)"); n != 0 {
		t.Errorf("%d deliveries in the copy have no event", n)
	}
	if n := count("SELECT COUNT(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)"); n != 0 {
		t.Errorf("%d attempts in the copy have no delivery", n)
	}
	// Both webhooks subscribe to everything, so each published event has two
	// deliveries; each creation ping has one, to its own webhook.
	pings := count("SELECT COUNT(*) FROM events WHERE type = ?", herald.PingType)
	if pings != len(webhooks) {
		t.Errorf("the copy holds %d ping events, want %d", pings, len(webhooks))
	}
	if want := 2*(events-pings) + pings; deliveries != want {
		t.Errorf("the copy holds %d deliveries for %d events (%d pings), want %d", deliveries, events, pings, want)
	}
	if n := count(`SELECT COUNT(*) FROM events e WHERE (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id)
		!= CASE e.type WHEN ? THEN 1 ELSE 2 END`, herald.PingType); n != 0 {
		t.Errorf("%d events in the copy have the wrong number of deliveries", n)
	}

	printed := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+)\s+(\d+)$`).FindAllStringSubmatch(stdout.String(), -1) {
		printed[m[1]], _ = strconv.Atoi(m[2])
	}
	want := map[string]int{"webhooks": len(webhooks), "events": events, "deliveries": deliveries, "attempts": attempts}
	for table, n := range want {
		if printed[table] != n {
			t.Errorf("backup printed %d %s, the copy holds %d:\n%s", printed[table], table, n, stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), output) {
		t.Errorf("backup did not print the path it wrote:\n%s", stdout.String())
	}

	// The copy opens as a store with the server's key, and its secrets open.
	key, err := secretbox.LoadOrCreateKey(filepath.Join(dataDir, "encryption.key"))
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // the store switches the copy to WAL mode, which wants it to itself
	store, err := sqlite.Open(t.Context(), output, box)
	if err != nil {
		t.Fatalf("open the copy as a store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	for id, secret := range webhooks {
		w, err := store.Webhook(t.Context(), id)
		if err != nil {
			t.Fatalf("webhook %s in the copy: %v", id, err)
		}
		if w.Secret != secret {
			t.Errorf("webhook %s's secret opens from the copy as %q, want %q", id, w.Secret, secret)
		}
	}
	t.Logf("backup under load took %s: %d events (%d acknowledged before it began), %d deliveries, %d attempts",
		took.Round(time.Millisecond), events, len(ackedBefore), deliveries, attempts)
}

// TestBackupRefuses checks what herald backup will not do.
func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	st := startServer(t, dataDir)
	st.stop()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.db")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"existing output", []string{"--data-dir", dataDir, "--output", existing}, nil, "already exists"},
		{"postgres flag", []string{"--database-url", "postgres://herald@db/herald", "--output", fresh}, nil, "pg_dump"},
		{"postgres environment", []string{"--output", fresh}, map[string]string{"HERALD_DATABASE_URL": "postgresql://herald@db/herald"}, "pg_dump"},
		{"no output", []string{"--data-dir", dataDir}, nil, "--output"},
		{"no database", []string{"--data-dir", filepath.Join(dir, "nothing-here"), "--output", fresh}, nil, "no database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"backup"}, tt.args...), &stdout, &stderr,
				func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("backup %v: error %v, want one saying %q", tt.args, err, tt.wantErr)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "an older backup" {
		t.Errorf("the existing file now holds %q", b)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a refused backup left %s behind (%v)", fresh, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing-here")); !os.IsNotExist(err) {
		t.Errorf("backup of a missing data directory created it (%v)", err)
	}

	// The server stopped cleanly, so its WAL is gone: the copy is still made.
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--data-dir", dataDir, "--output", fresh}, &stdout, &bytes.Buffer{},
		func(string) string { return "" }); err != nil {
		t.Fatalf("backup of a stopped server's database: %v", err)
	}
	if !strings.Contains(stdout.String(), "webhooks") {
		t.Errorf("backup printed no counts:\n%s", stdout.String())
	}
}

// openReadOnly opens the SQLite file at path for reading with database/sql.
func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
