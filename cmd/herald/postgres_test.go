package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/bench"
	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/webhook"
)

// postgresDatabase creates an empty database for t on the server HERALD_TEST_POSTGRES_URL
// names and returns its URL; the database is dropped when t ends. t is skipped when the
// variable is unset (CI always sets it).
func postgresDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HERALD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer conn.Close(context.Background())
	name := "herald_t_" + strings.ToLower(strings.ReplaceAll(randomText(8), "-", "_"))
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// randomText returns n random bytes as URL-safe base64 letters and digits.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.NewReplacer("-", "x", "_", "y").Replace(base64.RawURLEncoding.EncodeToString(b))
}

// newEncryptionKey returns a key for processes that share one database.
func newEncryptionKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// openPostgres opens the store at dbURL with key, the --encryption-key of the servers
// on it: another process writing to their database, closed when the test ends.
func openPostgres(t *testing.T, dbURL, key string) *postgres.Store {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), dbURL, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// createPausedWebhook creates, over the API of the server at baseURL, a frugally-format
// webhook named name that sends schedule.paused events to receiverURL, and returns its id.
func createPausedWebhook(t *testing.T, baseURL, name, receiverURL string) string {
	t.Helper()
	var wh webhookResource
	if code := api(t, baseURL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": name, "url": receiverURL, "format": "frugally", "events": []string{"schedule.paused"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook %s: %d", name, code)
	}
	return wh.ID
}

// newCountingReceiver starts the benchmark's receiver, which counts arrivals per event
// id and takes delay over each, for the end of the test.
func newCountingReceiver(t *testing.T, delay time.Duration) *bench.Receiver {
	t.Helper()
	rc, err := bench.StartReceiver(delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// publishBatches publishes events evt_<prefix>_0 … _n-1 in batches of 1000, round robin
// over the servers, and returns how many were acknowledged.
func publishBatches(t *testing.T, servers []string, prefix string, n int) int {
	t.Helper()
	acked := 0
	for start, i := 0, 0; start < n; start, i = start+1000, i+1 {
		var events []map[string]any
		for j := start; j < min(start+1000, n); j++ {
			events = append(events, map[string]any{
				"id": fmt.Sprintf("evt_%s_%d", prefix, j), "type": "schedule.paused",
				"data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
			})
		}
		var out struct {
			Results []struct {
				ID string `json:"id"`
			} `json:"results"`
		}
		if code := api(t, servers[i%len(servers)], "POST", "/api/v1/events/batch", testAdminKey, map[string]any{"events": events}, &out); code != 202 {
			t.Fatalf("publish batch %d: %d", i, code)
		}
		for _, r := range out.Results {
			if r.ID != "" {
				acked++
			}
		}
	}
	return acked
}

// attemptsMade scrapes a server's count of attempts it sent.
func attemptsMade(t *testing.T, baseURL string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", baseURL, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	total := 0
	for _, m := range attemptsLine.FindAllStringSubmatch(buf.String(), -1) {
		n, _ := strconv.ParseFloat(m[1], 64)
		total += int(n)
	}
	return total
}

var attemptsLine = regexp.MustCompile(`(?m)^herald_attempts_total\{[^}]*\} (\S+)$`)

// pendingOrFailed counts a webhook's deliveries that are not delivered.
func pendingOrFailed(t *testing.T, baseURL, webhookID string) int {
	t.Helper()
	n := 0
	for _, status := range []string{"pending", "failed"} {
		req, _ := http.NewRequest("GET", baseURL+"/api/v1/webhooks/"+webhookID+"/deliveries?per_page=1&status="+status, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c, _ := strconv.Atoi(resp.Header.Get("X-Total-Count"))
		n += c
	}
	return n
}

// TestScaleOutSurvivesSIGKILL runs three herald serve processes on one PostgreSQL
// database, publishes 10,000 events across them to two webhooks, and SIGKILLs one
// mid-run: every event reaches both webhooks, nothing is left pending or failed, and
// both survivors took part. It reports the duplicates and how they split the work.
func TestScaleOutSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs three real servers")
	}
	dbURL := postgresDatabase(t)
	bin := buildHerald(t)
	args := []string{"--database-url", dbURL, "--encryption-key", newEncryptionKey(),
		"--retry-schedule", "200ms,500ms,1s,1s,1s,1s,1s,1s", "--attempt-timeout", "2s",
		"--per-webhook-concurrency", "16"}
	var procs []*process
	for range 3 {
		procs = append(procs, startProcess(t, bin, t.TempDir(), args...))
	}
	receivers := []*bench.Receiver{newCountingReceiver(t, 0), newCountingReceiver(t, 0)}
	var hooks []string
	for i, rc := range receivers {
		hooks = append(hooks, createPausedWebhook(t, procs[i].URL, "scale", rc.URL))
	}

	const events = 10000
	// Published through the survivors: all three claim and send, and the kill may
	// come before the last batch is in.
	urls := []string{procs[0].URL, procs[1].URL}
	start := time.Now()
	published := make(chan int, 1)
	go func() {
		acked := 0
		defer func() { published <- acked }() // also when a failed call ends this goroutine
		acked = publishBatches(t, urls, "scale", events)
	}()
	if !waitUntil(120*time.Second, func() bool { n, _ := receivers[0].Distinct(); return n >= events/4 }) {
		t.Fatal("a quarter of the events did not arrive in 120s")
	}
	victim := procs[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Wait()
	atKill, _ := receivers[0].Distinct()
	acked := <-published
	if acked != events {
		t.Fatalf("%d of %d events acknowledged", acked, events)
	}

	if !waitUntil(180*time.Second, func() bool {
		a, _ := receivers[0].Distinct()
		b, _ := receivers[1].Distinct()
		return a == events && b == events
	}) {
		a, _ := receivers[0].Distinct()
		b, _ := receivers[1].Distinct()
		t.Fatalf("LOST: the webhooks received %d and %d of %d events", a, b, events)
	}
	took := time.Since(start)
	// An attempt the victim sent but never recorded stays pending until its lease runs
	// out; then a survivor sends it again (a duplicate). Nothing may stay stuck.
	for _, id := range hooks {
		n := 0
		if !waitUntil(60*time.Second, func() bool { n = pendingOrFailed(t, procs[0].URL, id); return n == 0 }) {
			t.Errorf("STUCK: webhook %s has %d deliveries pending or failed a minute after every event arrived", id, n)
		}
	}
	// Both survivors took part. How they split the work is not promised: a webhook's
	// cap on leases holds across processes, so a busy webhook stays with the process
	// that claims it as long as that one keeps up, and with two webhooks one survivor
	// may do 95 % of the attempts.
	shares := []int{attemptsMade(t, procs[0].URL), attemptsMade(t, procs[1].URL)}
	for i, n := range shares {
		if n == 0 {
			t.Errorf("survivor %d made no attempt of %d deliveries", i, 2*events)
		}
	}
	_, dup0 := receivers[0].Distinct()
	_, dup1 := receivers[1].Distinct()
	t.Logf("scale-out: %d events x 2 webhooks over 3 processes in %s; SIGKILLed one when %d had arrived; lost 0, duplicated %d; survivors' attempts %v",
		events, took.Round(time.Millisecond), atKill, dup0+dup1, shares)
}

// TestServeHearsOtherProcessesWork: a server on PostgreSQL whose poll is an hour away
// starts at once the work another process commits, which tells it through the
// database.
func TestServeHearsOtherProcessesWork(t *testing.T) {
	t.Parallel()
	dbURL := postgresDatabase(t)
	key := newEncryptionKey()
	srv := startServer(t, t.TempDir(), "--database-url", dbURL, "--encryption-key", key, "--poll-interval", "1h")
	rc := newCountingReceiver(t, 0)

	// Another process: a producer writing to the database itself, which wakes no
	// dispatcher by calling it.
	other := openPostgres(t, dbURL, key)
	now := time.Now().UTC()
	if err := other.CreateWebhook(t.Context(), &herald.Webhook{
		ID: herald.NewID(herald.PrefixWebhook), TenantID: herald.DefaultTenantID, Name: "listen", URL: rc.URL,
		Events: []string{"schedule.paused"}, Enabled: true, Format: herald.FormatFrugally,
		Secret: herald.NewSecret(), CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	// The server's dispatcher has looked for work once, found none, and sleeps.
	if !waitUntil(10*time.Second, func() bool { return claimsMade(t, srv.URL) > 0 }) {
		t.Fatal("the dispatcher made no claim in 10s")
	}
	res, err := other.Publish(t.Context(), []herald.Publication{{Event: herald.Event{
		ID: herald.NewID(herald.PrefixEvent), TenantID: herald.DefaultTenantID, Type: "schedule.paused",
		Data: json.RawMessage(`{"schedule_id":1}`), Timestamp: now, CreatedAt: now,
	}}})
	if err != nil || len(res) != 1 || res[0].Deliveries != 1 {
		t.Fatalf("publish from another process: %+v, %v; want one delivery", res, err)
	}
	if !waitUntil(10*time.Second, func() bool { n, _ := rc.Distinct(); return n == 1 }) { // the poll would take an hour
		t.Fatal("the event another process committed was not delivered within 10s")
	}
}

// claimsMade is how many claims of due work the server at baseURL has made, from its
// metrics.
func claimsMade(t *testing.T, baseURL string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^herald_store_operation_duration_seconds_count\{operation="claim_due"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET /metrics: %d, no claim_due count", resp.StatusCode)
	}
	n, _ := strconv.Atoi(string(m[1])) // the pattern holds digits only
	return n
}

// TestScaleOutRecoversLostConnections kills every PostgreSQL connection of two running
// processes mid-run: they reconnect by themselves and every event still arrives.
func TestScaleOutRecoversLostConnections(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs real servers")
	}
	dbURL := postgresDatabase(t)
	bin := buildHerald(t)
	args := []string{"--database-url", dbURL, "--encryption-key", newEncryptionKey(),
		"--retry-schedule", "200ms,500ms,1s,1s,1s,1s,1s,1s", "--attempt-timeout", "2s"}
	procs := []*process{startProcess(t, bin, t.TempDir(), args...), startProcess(t, bin, t.TempDir(), args...)}
	rc := newCountingReceiver(t, 0)
	createPausedWebhook(t, procs[0].URL, "recover", rc.URL)
	urls := []string{procs[0].URL, procs[1].URL}

	// Publish steadily while the connections are killed.
	pub := publishSteadily("pg", 2, func(i int) string { return urls[i%2] })
	if !waitUntil(60*time.Second, func() bool { return pub.ackCount.Load() >= 300 }) {
		t.Fatalf("only %d events acknowledged in 60s", pub.ackCount.Load())
	}
	killed := terminateBackends(t, dbURL)
	time.Sleep(2 * time.Second) // publishing goes on across the reconnection
	killedAgain := terminateBackends(t, dbURL)
	time.Sleep(2 * time.Second)
	pub.stop()

	missing := 0
	if !waitUntil(90*time.Second, func() bool {
		missing = pub.missing(rc.Arrived)
		return missing == 0
	}) {
		t.Fatalf("LOST: %d of %d acknowledged events never arrived after the connections were killed", missing, pub.ackCount.Load())
	}
	for _, p := range procs {
		if code := api(t, p.URL, "GET", "/readyz", "", nil, nil); code != 200 {
			t.Errorf("%s /readyz = %d after reconnecting, want 200", p.URL, code)
		}
	}
	// A publish after the storm arrives too: the processes work, not only their retries.
	if code := api(t, urls[1], "POST", "/api/v1/events", testAdminKey, map[string]any{
		"id": "evt_pg_after", "type": "schedule.paused", "data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
	}, nil); code != 202 {
		t.Fatalf("publish after reconnecting: %d", code)
	}
	if !waitUntil(30*time.Second, func() bool { return rc.Arrived("evt_pg_after") }) {
		t.Fatal("an event published after the reconnection did not arrive")
	}
	_, dups := rc.Distinct()
	t.Logf("killed %d then %d connections mid-run: %d events acknowledged, %d refused while reconnecting, lost 0, duplicated %d",
		killed, killedAgain, pub.ackCount.Load(), pub.refused.Load(), dups)
}

// terminateBackends kills every connection to the database of dbURL but its own and
// returns how many.
func terminateBackends(t *testing.T, dbURL string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no connection to kill")
	}
	return n
}

// TestMigrateStoreKeepsEverything fills a SQLite store through a real server, copies it
// into PostgreSQL with herald migrate-store and serves from there: the counts match, and
// every webhook's requests still verify with the secret (or public key) it had.
func TestMigrateStoreKeepsEverything(t *testing.T) {
	t.Parallel()
	dbURL := postgresDatabase(t)
	dataDir := t.TempDir()
	old := startServer(t, dataDir)

	type hook struct {
		format, signing, secret string // secret: what the receiver verifies with
		id                      string
		rc                      *receiver
	}
	hooks := []*hook{
		{format: "infraaudit", secret: "infraaudit-secret-0123456789"},
		{format: "frugally", secret: "whsec_frugally-secret-0123456789"},
		{format: "standard", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{format: "standard", signing: "ed25519"},
	}
	for _, h := range hooks {
		h.rc = newReceiver(t)
		body := map[string]any{"name": h.format, "url": h.rc.URL, "format": h.format, "events": []string{"drift.detected"}}
		if h.signing != "" {
			body["signing"] = h.signing
		} else {
			body["secret"] = h.secret
		}
		var out struct {
			ID        string `json:"id"`
			PublicKey string `json:"public_key"`
		}
		if code := api(t, old.URL, "POST", "/api/v1/webhooks", testAdminKey, body, &out); code != 201 {
			t.Fatalf("create %s webhook: %d", h.format, code)
		}
		h.id = out.ID
		if h.signing != "" {
			h.secret = out.PublicKey
		}
	}
	for i := range 5 {
		if code := api(t, old.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"id": fmt.Sprintf("evt_before_move_%d", i), "type": "drift.detected", "data": json.RawMessage(catalogtest.SeedExamples(t)["drift.detected"]),
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	for _, h := range hooks {
		h.rc.waitFor(t, 6, 10*time.Second) // the ping and 5 events
	}
	time.Sleep(200 * time.Millisecond) // the last attempts are recorded
	old.stop()

	var out strings.Builder
	if err := run(t.Context(), []string{"migrate-store", "--from", dataDir + "/herald.db", "--to", dbURL}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("migrate-store: %v\n%s", err, out.String())
	}
	for _, want := range []string{"webhooks                 4 rows", "events                   9 rows", "deliveries              24 rows", "attempts                24 rows"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate-store printed\n%s\nwithout %q", out.String(), want)
		}
	}
	if err := run(t.Context(), []string{"migrate-store", "--from", dataDir + "/herald.db", "--to", dbURL}, io.Discard, io.Discard, os.Getenv); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Errorf("migrate-store into a filled database: %v, want a refusal", err)
	}

	key, err := os.ReadFile(dataDir + "/encryption.key")
	if err != nil {
		t.Fatal(err)
	}
	moved := startServer(t, t.TempDir(), "--database-url", dbURL, "--encryption-key", strings.TrimSpace(string(key)))
	for _, h := range hooks {
		var ds []deliveryResource
		if code := api(t, moved.URL, "GET", "/api/v1/webhooks/"+h.id+"/deliveries", testAdminKey, nil, &ds); code != 200 || len(ds) != 6 {
			t.Errorf("%s webhook on PostgreSQL: %d with %d deliveries, want its 6", h.format, code, len(ds))
		}
		var res struct {
			Success bool `json:"success"`
		}
		if code := api(t, moved.URL, "POST", "/api/v1/webhooks/"+h.id+"/test", testAdminKey, nil, &res); code != 200 || !res.Success {
			t.Fatalf("test %s webhook after the move: %d %+v", h.format, code, res)
		}
		got := h.rc.waitFor(t, 7, 10*time.Second)
		v, err := webhook.NewVerifier(webhook.Format(h.format), h.secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(got[6].Header, got[6].Body); err != nil {
			t.Errorf("%s %s webhook after the move: %v", h.format, h.signing, err)
		}
	}
}

// TestConvertForPostgres checks migrate-store's conversions, including the bytes a
// hostile endpoint's response may leave in SQLite that PostgreSQL refuses.
func TestConvertForPostgres(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		in     any
		pgType string
		want   any
	}{
		{at.UnixMicro(), "timestamp with time zone", at},
		{int64(1), "boolean", true},
		{int64(0), "boolean", false},
		{"sealed", "bytea", []byte("sealed")},
		{"ok\x00\xffbody", "text", "ok\uFFFD\uFFFDbody"},
		{`{"X":["a\u0000b"]}`, "jsonb", `{"X":["a\ufffdb"]}`},
		{nil, "text", nil},
		{int64(7), "integer", int64(7)},
	} {
		got, err := convert(tc.in, tc.pgType)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("convert(%q, %s) = %#v, %v; want %#v", tc.in, tc.pgType, got, err, tc.want)
		}
	}
	if _, err := convert("2026-01-01", "timestamp with time zone"); err == nil {
		t.Error("convert accepted text for a time")
	}
}

// TestMigrateCommand applies the schema to a new database, then finds nothing to do.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	dbURL := postgresDatabase(t)
	env := func(k string) string { return map[string]string{"HERALD_DATABASE_URL": dbURL}[k] }
	migrations, _ := filepath.Glob("../../postgres/migrations/*.sql")
	for _, want := range []string{fmt.Sprintf("applied %d migration(s)", len(migrations)), "applied 0 migration(s)"} {
		var out strings.Builder
		if err := run(t.Context(), []string{"migrate"}, &out, io.Discard, env); err != nil || !strings.Contains(out.String(), want) {
			t.Errorf("herald migrate: %q, %v; want %q", out.String(), err, want)
		}
	}
	err := run(t.Context(), []string{"migrate", "--database-url", "herald-data/herald.db"}, io.Discard, io.Discard, env)
	if err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("herald migrate on a SQLite path: %v, want a refusal that names postgres://", err)
	}
}

// TestConcurrentFirstStartsAgree starts three servers at once on a new PostgreSQL
// database without an admin key: exactly one generates and prints the key, and all
// three accept it.
func TestConcurrentFirstStartsAgree(t *testing.T) {
	t.Parallel()
	dbURL := postgresDatabase(t)
	key := newEncryptionKey()
	ctx, cancel := context.WithCancel(context.Background())
	var outs []*syncBuffer
	done := make(chan error, 3)
	for range 3 {
		out := &syncBuffer{}
		outs = append(outs, out)
		args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", dbURL,
			"--encryption-key", key, "--log-level", "error"}
		go func() { done <- run(ctx, args, out, io.Discard, func(string) string { return "" }) }()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	var urls []string
	for _, out := range outs {
		urls = append(urls, waitForMatch(t, out, "herald serve"))
	}
	adminKey := regexp.MustCompile(`Admin API key \(shown once, keep it safe\): (\S+)`)
	var printed []string
	for _, out := range outs {
		if m := adminKey.FindStringSubmatch(out.String()); m != nil {
			printed = append(printed, m[1])
		}
	}
	if len(printed) != 1 {
		t.Fatalf("%d servers printed an admin key, want exactly one: %q", len(printed), printed)
	}
	for _, u := range urls {
		if code := api(t, u, "GET", "/api/v1/webhooks", printed[0], nil, nil); code != 200 {
			t.Errorf("%s refuses the printed admin key: %d", u, code)
		}
	}
}
