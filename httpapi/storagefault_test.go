package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
)

// publishLedger publishes events with ids of its own and remembers what each answer
// was, to check afterwards that every 202 is stored whole and every 503 is stored whole
// or not at all.
type publishLedger struct {
	e        *env
	webhooks int // subscribed webhooks: deliveries each stored event must have
	n        int
	accepted []string
	refused  []string
}

// publish sends one event and returns the answer, failing t on anything but 202 or 503
// (a 503 must say Retry-After).
func (l *publishLedger) publish(t *testing.T) response {
	t.Helper()
	l.n++
	id := fmt.Sprintf("fault-%d-%d", time.Now().UnixNano(), l.n)
	te := *l.e
	te.t = t
	r := te.do("POST", "/api/v1/events", l.e.adminKey, driftEvent(map[string]any{"id": id}))
	switch r.code {
	case http.StatusAccepted:
		l.accepted = append(l.accepted, id)
	case http.StatusServiceUnavailable:
		checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %s", r.body)
		}
		l.refused = append(l.refused, id)
	default:
		t.Fatalf("publish during a storage fault: status %d, want 202 or 503; body %s", r.code, r.body)
	}
	return r
}

// check verifies the ledger against the store, once it works again.
func (l *publishLedger) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, ids := range [][]string{l.accepted, l.refused} {
		for _, id := range ids {
			_, err := l.e.store.Event(ctx, id)
			if herald.ErrorCode(err) == herald.ENOTFOUND && !contains(l.accepted, id) {
				continue // refused and not stored: as it should be
			}
			if err != nil {
				t.Errorf("event %s (answered %s): %v", id, l.answer(id), err)
				continue
			}
			if n := l.e.countDeliveries(herald.DeliveryFilter{EventID: id}); n != l.webhooks {
				t.Errorf("event %s (answered %s) is stored with %d deliveries, want %d", id, l.answer(id), n, l.webhooks)
			}
		}
	}
	t.Logf("%d publishes answered 202 (all stored whole), %d answered 503", len(l.accepted), len(l.refused))
}

func (l *publishLedger) answer(id string) string {
	if contains(l.accepted, id) {
		return "202"
	}
	return "503"
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestPublishWhenDiskIsFull runs Herald's SQLite file on a small tmpfs, fills the file
// system, and publishes: 503 with Retry-After, nothing half-written; once space is
// freed, publishes succeed again on the same store, without a restart. It needs to
// mount a file system (root, as in CI) and skips otherwise.
func TestPublishWhenDiskIsFull(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "4m")
	dbPath := filepath.Join(dir, "herald.db")
	e := newEnv(t, withSQLiteAt(t, dbPath))
	l := &publishLedger{e: e, webhooks: 2}
	e.createWebhook(e.adminKey, nil)
	e.createWebhook(e.adminKey, nil)
	l.publish(t)
	if len(l.accepted) != 1 {
		t.Fatal("publishing before the disk filled up failed")
	}

	// Fill the file system, then publish until it refuses.
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)
	var refusals int
	for range 200 {
		if r := l.publish(t); r.code == http.StatusServiceUnavailable {
			refusals++
			if refusals == 3 {
				break
			}
		}
	}
	if refusals == 0 {
		t.Fatalf("200 publishes on a full disk all answered 202")
	}
	if r := e.do("GET", "/readyz", "", nil); r.code != http.StatusOK {
		t.Logf("readyz on a full disk: %d (reads still work, so 200 is fine too)", r.code)
	}

	// Free the space: the same store takes publishes again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var ok bool
	for range 20 {
		if r := l.publish(t); r.code == http.StatusAccepted {
			ok = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok {
		t.Fatal("publishes still fail after the disk has space again")
	}
	l.check(t)
}

// mountTmpfs mounts a tmpfs of size under a new temporary directory for the test, or
// skips t when this process may not mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs to fill up (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the file system holding it is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC: full
		}
	}
}

// withSQLiteAt runs the API over a SQLite store at path.
func withSQLiteAt(t *testing.T, path string) envOption {
	return func(c *httpapi.Config) {
		st, err := sqlite.Open(context.Background(), path, testCipher(t))
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() }) // the test's checks are done by then
		if err := st.CreateTenant(context.Background(), &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
			herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil {
			t.Fatalf("create default tenant: %v", err)
		}
		c.Store = st
	}
}

func testCipher(t testing.TB) herald.Cipher {
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		t.Fatalf("secretbox.New: %v", err)
	}
	return box
}

// TestPublishWhenDatabaseIsLocked holds SQLite's write lock from another connection past
// the busy timeout: publishes answer 503 with Retry-After after at most the busy
// timeout, reads go on, and once the lock is released publishing resumes by itself.
func TestPublishWhenDatabaseIsLocked(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "herald.db")
	e := newEnv(t, withSQLiteAt(t, dbPath))
	e.createWebhook(e.adminKey, nil)
	l := &publishLedger{e: e, webhooks: 1}
	l.publish(t)

	other, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	start := time.Now()
	if r := l.publish(t); r.code != http.StatusServiceUnavailable {
		t.Fatalf("publish while the database is locked: status %d, want 503", r.code)
	}
	if took := time.Since(start); took > 14*time.Second {
		t.Errorf("the 503 took %v; the busy timeout is 10 s", took)
	}
	t.Logf("locked: 503 after %v", time.Since(start).Round(time.Millisecond))
	if r := e.do("GET", "/readyz", "", nil); r.code != http.StatusOK {
		t.Errorf("readyz while only writes are locked: %d, want 200 (WAL readers are not blocked)", r.code)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	if r := l.publish(t); r.code != http.StatusAccepted {
		t.Fatalf("publish after the lock was released: status %d, want 202", r.code)
	}
	l.check(t)
}

// faultProxy is a TCP proxy between Herald's store and PostgreSQL that can cut the line:
// refuse (connections are reset and new ones refused, as when the server is down) or
// blackhole (connections stay open but nothing passes, as in a network partition).
type faultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string // "", "refuse", "blackhole" or "lose-commit"
	conns []net.Conn
	// marker, in "lose-commit" mode, picks the transaction whose COMMIT is lost: the
	// first on a connection that has sent it. Other connections (the store's heartbeat
	// commits every second) pass.
	marker []byte
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target}
	t.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		p.setMode("refuse")
	})
	go p.accept()
	return p
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == "refuse" {
			p.mu.Unlock()
			_ = c.Close() // refused: the client sees the connection end at once
			continue
		}
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if mode == "blackhole" {
			continue // held open, silent
		}
		go p.pipe(c)
	}
}

func (p *faultProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close() // the client sees the failure as a closed connection
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	var mute atomic.Bool // set once the client's COMMIT is to go unanswered
	go func() { p.forward(up, c, &mute); _ = up.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 && !mute.Load() {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break // errors end the pipe either way
		}
	}
	_ = c.Close()
}

// commitMessage is how pgx sends COMMIT: a simple query message
// frontend/backend protocol), type 'Q', length 11, the text and its NUL.
var commitMessage = []byte("Q\x00\x00\x00\x0bcommit\x00")

// forward copies what the client sends to the server. In "lose-commit" mode, once a
// COMMIT has gone through on a connection that sent the marker, it gives the server a
// moment to run it and then cuts the client's connection: the transaction is committed
// but the client never hears so. It does that once and lets everything through again.
func (p *faultProxy) forward(up, c net.Conn, mute *atomic.Bool) {
	buf := make([]byte, 32<<10)
	marked := false // this connection has sent the marker
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			marked = marked || p.mode == "lose-commit" && bytes.Contains(buf[:n], p.marker)
			lose := marked && p.mode == "lose-commit" && bytes.Contains(buf[:n], commitMessage)
			if lose {
				p.mode = ""
				mute.Store(true) // before the server has it: its answer is dropped
			}
			p.mu.Unlock()
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			if lose {
				time.Sleep(200 * time.Millisecond)
				_ = c.Close() // the client's COMMIT goes unanswered
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// loseCommit makes the proxy lose the answer to the next COMMIT of a transaction that
// sends marker.
func (p *faultProxy) loseCommit(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.marker = "lose-commit", []byte(marker)
}

// setMode switches the proxy: a cut ("refuse", "blackhole") closes or silences every
// connection open through it; "" lets connections through again.
func (p *faultProxy) setMode(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for _, c := range p.conns {
		switch mode {
		case "refuse":
			_ = c.Close() // cut: errors are the point
		case "blackhole":
			// Stop reading and writing without closing: like packets dropped on the way.
			_ = c.SetDeadline(time.Now())
		}
	}
	if mode != "" {
		p.conns = nil
	}
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// postgresBehindProxy opens a Herald store on a schema of its own in the test
// PostgreSQL, connected through a fault proxy; it skips without one.
func postgresBehindProxy(t *testing.T) (*postgres.Store, *faultProxy) {
	t.Helper()
	raw := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if raw == "" {
		t.Skip("HERALD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	schema := fmt.Sprintf("fault_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, raw)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), raw)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})

	proxy := newFaultProxy(t, u.Host)
	pu := *u
	pu.Host = proxy.addr()
	q := pu.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "4")
	q.Set("connect_timeout", "2")
	pu.RawQuery = q.Encode()
	st, err := postgres.Open(ctx, pu.String(), testCipher(t))
	if err != nil {
		t.Fatalf("postgres.Open through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() }) // the test's checks are done by then
	return st, proxy
}

// TestPublishWhenPostgresIsUnreachable cuts the line between Herald and PostgreSQL, both
// ways a line goes down: publishes answer 503 with Retry-After within the store timeout,
// never 500 and never a false 202; /readyz answers 503; and once the line is back,
// publishing resumes by itself.
func TestPublishWhenPostgresIsUnreachable(t *testing.T) {
	t.Parallel()
	st, proxy := postgresBehindProxy(t)
	const storeTimeout = 3 * time.Second
	e := newEnv(t, func(c *httpapi.Config) {
		c.Store = st
		c.StoreTimeout = storeTimeout
	})
	ctx := context.Background()
	if err := st.CreateTenant(ctx, &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
		herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil && herald.ErrorCode(err) != herald.ECONFLICT {
		t.Fatalf("create default tenant: %v", err)
	}
	tenantKey := e.createTenant("team_pg")
	e.createWebhook(e.adminKey, nil)
	e.createWebhook(e.adminKey, nil)
	l := &publishLedger{e: e, webhooks: 2}
	l.publish(t)

	for _, mode := range []string{"refuse", "blackhole"} {
		t.Run(mode, func(t *testing.T) {
			proxy.setMode(mode)
			for i := range 3 {
				start := time.Now()
				r := l.publish(t)
				took := time.Since(start)
				if r.code != http.StatusServiceUnavailable {
					t.Fatalf("publish %d with the database cut off (%s): status %d, want 503", i+1, mode, r.code)
				}
				if took > storeTimeout+2*time.Second {
					t.Errorf("publish %d took %v, want at most the store timeout (%v) and a little", i+1, took, storeTimeout)
				}
				t.Logf("%s: publish %d answered 503 in %v", mode, i+1, took.Round(time.Millisecond))
			}
			start := time.Now()
			if r := e.do("GET", "/readyz", "", nil); r.code != http.StatusServiceUnavailable {
				t.Errorf("readyz with the database cut off: %d, want 503", r.code)
			}
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("readyz took %v", took)
			}
			// A tenant key is looked up in the store: the same 503, not a 401 or a 500.
			r := e.do("GET", "/api/v1/webhooks", tenantKey, nil)
			checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)

			proxy.setMode("")
			deadline := time.Now().Add(15 * time.Second)
			for {
				r := e.do("POST", "/api/v1/events", e.adminKey, driftEvent(nil))
				if r.code == http.StatusAccepted {
					var out struct{ ID string }
					if err := json.Unmarshal(r.body, &out); err != nil {
						t.Fatal(err)
					}
					l.accepted = append(l.accepted, out.ID)
					break
				}
				if r.code != http.StatusServiceUnavailable {
					t.Fatalf("publish after the line came back: status %d: %s", r.code, r.body)
				}
				if time.Now().After(deadline) {
					t.Fatalf("publishing did not resume within 15 s of the line coming back")
				}
				time.Sleep(200 * time.Millisecond)
			}
			if r := e.do("GET", "/readyz", "", nil); r.code != http.StatusOK {
				t.Errorf("readyz after the line came back: %d", r.code)
			}
		})
	}
	l.check(t)
}

// TestStoreTimeoutIsA503: whatever the store answers once the request's store timeout
// has passed, the caller gets a 503 with Retry-After, not a 500.
func TestStoreTimeoutIsA503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config) {
		c.Store = &stallingStore{Store: c.Store}
		c.StoreTimeout = 200 * time.Millisecond
	})
	start := time.Now()
	r := e.do("POST", "/api/v1/events", e.adminKey, driftEvent(nil))
	checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v with a 200 ms store timeout", took)
	}
}

// stallingStore's Publish waits for its context to end and then fails with an error
// that is not a herald error, as a driver might.
type stallingStore struct{ herald.Store }

func (s *stallingStore) Publish(ctx context.Context, _ []herald.Publication) ([]herald.PublishResult, error) {
	<-ctx.Done()
	return nil, errors.New("driver: interrupted: " + strings.ToLower(ctx.Err().Error()))
}

// TestPublishWhoseCommitGoesUnanswered: when PostgreSQL commits a publish but the
// connection is lost before Herald hears so, the answer is a 503 that says the event may
// be stored and how to publish it again safely; publishing it again with the same id
// answers 200 with the stored event, not a second one.
func TestPublishWhoseCommitGoesUnanswered(t *testing.T) {
	t.Parallel()
	st, proxy := postgresBehindProxy(t)
	e := newEnv(t, func(c *httpapi.Config) { c.Store = st })
	ctx := context.Background()
	if err := st.CreateTenant(ctx, &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()},
		herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey))); err != nil && herald.ErrorCode(err) != herald.ECONFLICT {
		t.Fatalf("create default tenant: %v", err)
	}
	e.createWebhook(e.adminKey, nil)
	id := fmt.Sprintf("evt_unanswered_%d", time.Now().UnixNano())

	proxy.loseCommit(id)
	r := e.do("POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": id}))
	b := checkError(t, r, http.StatusServiceUnavailable, herald.EUNAVAILABLE)
	const want = "the database did not confirm the commit: the event may be stored; publish it again with the same id or Idempotency-Key, which Herald deduplicates"
	if *b.Error != want {
		t.Errorf("message %q, want %q", *b.Error, want)
	}
	if _, err := st.Event(ctx, id); err != nil {
		t.Fatalf("the event whose commit went unanswered is not stored (the proxy did not let the COMMIT through?): %v", err)
	}
	var out struct{ ID string }
	e.must(http.StatusOK, "POST", "/api/v1/events", e.adminKey, driftEvent(map[string]any{"id": id}), &out)
	if out.ID != id {
		t.Errorf("the repeat answered event %q, want %q", out.ID, id)
	}
	if n := e.countDeliveries(herald.DeliveryFilter{EventID: id}); n != 1 {
		t.Errorf("%d deliveries for the event, want 1: the repeat must not publish it twice", n)
	}
}
