package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/webhook"
)

// verifyingReceiver is an endpoint that checks every request's signature with its
// webhook's secrets and counts the events that verified, by the standard webhook-id.
type verifyingReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	verifier *webhook.Verifier
	verified map[string]bool
	failures []string
}

func newVerifyingReceiver(t *testing.T) *verifyingReceiver {
	t.Helper()
	rc := &verifyingReceiver{verified: map[string]bool{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.verifier == nil {
			w.WriteHeader(http.StatusServiceUnavailable) // the ping, before the secret is known
			return
		}
		body, err := rc.verifier.VerifyRequest(r)
		if err != nil {
			rc.failures = append(rc.failures, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = body // verified; the id is in the header
		rc.verified[r.Header.Get("webhook-id")] = true
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *verifyingReceiver) setSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.FormatStandard, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.verifier = v
	rc.mu.Unlock()
}

// state returns how many events verified, whether the event ids all did, and the
// failures seen.
func (rc *verifyingReceiver) state(ids []string) (verified int, missing []string, failures []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if !rc.verified[id] {
			missing = append(missing, id)
		}
	}
	return len(rc.verified), missing, append([]string(nil), rc.failures...)
}

// steadyPublisher publishes an event every few milliseconds to whichever server is up,
// retrying through restarts, and keeps the ids of those accepted.
type steadyPublisher struct {
	url    atomic.Value // string: the server to publish to now
	mu     sync.Mutex
	ids    []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startPublishing(serverURL string) *steadyPublisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &steadyPublisher{cancel: cancel, done: make(chan struct{})}
	p.url.Store(serverURL)
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			body := fmt.Sprintf(`{"type":"ping","data":{"webhook_id":"wh_x","message":"event %d"}}`, i)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url.Load().(string)+"/api/v1/events", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testAdminKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				var out struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&out) // a failed decode leaves no id, so the event does not count
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted && out.ID != "" {
					p.mu.Lock()
					p.ids = append(p.ids, out.ID)
					p.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(15 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *steadyPublisher) accepted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}

func (p *steadyPublisher) stop() { p.cancel(); <-p.done }

// TestRotateEncryptionKeySQLite rotates the key of a SQLite server while events keep
// coming: restart with the new key and the old, stop it and re-seal, start it again,
// restart with the new key alone; the old key alone is then refused.
func TestRotateEncryptionKeySQLite(t *testing.T) {
	testRotateEncryptionKey(t, "")
}

// TestRotateEncryptionKeyPostgres does the same with two servers on PostgreSQL,
// restarted one at a time.
func TestRotateEncryptionKeyPostgres(t *testing.T) {
	testRotateEncryptionKey(t, postgresDatabase(t))
}

var resealedCount = regexp.MustCompile(`re-sealed (\d+) secret value\(s\) under the key with id ([0-9a-f]{8})`)

func testRotateEncryptionKey(t *testing.T, dbURL string) {
	oldKey, newKey := newEncryptionKey(), newEncryptionKey()
	servers := 2
	dir := func(i int) string { return filepath.Join(t.TempDir(), fmt.Sprint(i)) }
	env := func(primary string, previous ...string) map[string]string {
		e := map[string]string{"HERALD_ENCRYPTION_KEY": primary, "HERALD_PREVIOUS_ENCRYPTION_KEYS": strings.Join(previous, ",")}
		if dbURL != "" {
			e["HERALD_DATABASE_URL"] = dbURL
		}
		return e
	}
	sqliteDir := ""
	if dbURL == "" {
		// One server, and the old key is the one it generates into its data directory.
		servers = 1
		sqliteDir = filepath.Join(t.TempDir(), "data")
		dir = func(int) string { return sqliteDir }
	}
	start := func(i int, e map[string]string) *testServer {
		if dbURL == "" && e["HERALD_ENCRYPTION_KEY"] == oldKey {
			delete(e, "HERALD_ENCRYPTION_KEY") // the generated key file
		}
		return startServerEnv(t, dir(i), e, "--retry-schedule", "100ms,200ms,500ms")
	}

	running := make([]*testServer, servers)
	running[0] = start(0, env(oldKey))
	if dbURL == "" {
		raw, err := os.ReadFile(filepath.Join(sqliteDir, "encryption.key"))
		if err != nil {
			t.Fatal(err)
		}
		oldKey = strings.TrimSpace(string(raw))
	}
	for i := 1; i < servers; i++ {
		running[i] = start(i, env(oldKey))
	}

	// Three webhooks; the third rotated with a grace period, so it has a previous
	// secret to re-seal too.
	var receivers []*verifyingReceiver
	var webhookIDs []string
	for i := range 3 {
		rc := newVerifyingReceiver(t)
		var w struct{ ID, Secret string }
		if code := api(t, running[0].URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
			"name": fmt.Sprint("r", i), "url": rc.URL, "events": []string{"ping"}}, &w); code != http.StatusCreated {
			t.Fatalf("create webhook: %d", code)
		}
		secrets := []string{w.Secret}
		if i == 2 {
			var rot struct{ Secret string }
			if code := api(t, running[0].URL, "POST", "/api/v1/webhooks/"+w.ID+"/rotate-secret", testAdminKey,
				map[string]any{"grace_period_seconds": 3600}, &rot); code != http.StatusOK {
				t.Fatalf("rotate secret: %d", code)
			}
			secrets = append(secrets, rot.Secret)
		}
		rc.setSecrets(t, secrets...)
		receivers = append(receivers, rc)
		webhookIDs = append(webhookIDs, w.ID)
	}
	const sealedValues = 3 + 1

	pub := startPublishing(running[0].URL)
	defer pub.stop()
	waitDelivered := func(what string) {
		t.Helper()
		ids := pub.accepted()
		deadline := time.Now().Add(30 * time.Second)
		for _, rc := range receivers {
			for {
				n, missing, failures := rc.state(ids)
				if len(failures) > 0 {
					t.Fatalf("%s: a receiver could not verify %d requests: %v", what, len(failures), failures[0])
				}
				if len(missing) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d of %d accepted events not delivered and verified (%d verified); first missing %s", what, len(missing), len(ids), n, missing[0])
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Logf("%s: %d events accepted, each delivered to %d webhooks and verified", what, len(ids), len(receivers))
	}
	restart := func(e map[string]string) {
		for i := range running {
			// The publisher moves to another server while this one restarts, if any.
			pub.url.Store(running[(i+1)%servers].URL)
			running[i].stop()
			running[i] = start(i, e)
			pub.url.Store(running[i].URL)
		}
	}
	for len(pub.accepted()) < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	waitDelivered("with the old key")

	restart(env(newKey, oldKey))
	rotate := func() (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := []string{"rotate-encryption-key", "--batch", "2"}
		if dbURL == "" {
			args = append(args, "--data-dir", sqliteDir)
		}
		e := env(newKey, oldKey)
		if err := run(t.Context(), args, &stdout, &stderr, func(k string) string { return e[k] }); err != nil {
			t.Fatalf("rotate-encryption-key: %v\n%s", err, stderr.String())
		}
		for _, secret := range []string{oldKey, newKey} {
			if strings.Contains(stdout.String()+stderr.String(), secret) {
				t.Fatalf("rotate-encryption-key printed a key:\n%s%s", stdout.String(), stderr.String())
			}
		}
		m := resealedCount.FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("rotate-encryption-key printed %q, want how many it re-sealed", stdout.String())
		}
		var n int
		fmt.Sscan(m[1], &n)
		return n, m[2]
	}
	before := len(pub.accepted())
	if dbURL == "" {
		// The SQLite server owns its data directory: the command runs while it is down.
		running[0].stop()
	}
	n, keyID := rotate()
	if n != sealedValues {
		t.Errorf("first rotate-encryption-key re-sealed %d values, want %d (3 secrets, 1 previous secret)", n, sealedValues)
	}
	if n, _ := rotate(); n != 0 {
		t.Errorf("second rotate-encryption-key re-sealed %d values, want 0", n)
	}
	if dbURL == "" {
		running[0] = start(0, env(newKey, oldKey))
		pub.url.Store(running[0].URL)
	}
	for len(pub.accepted()) < before+20 {
		time.Sleep(10 * time.Millisecond)
	}
	waitDelivered(fmt.Sprintf("with the new key %s and the old one, re-sealed", keyID))

	restart(env(newKey))
	before = len(pub.accepted())
	for len(pub.accepted()) < before+20 {
		time.Sleep(10 * time.Millisecond)
	}
	pub.stop()
	waitDelivered("with the new key alone")
	for _, id := range webhookIDs {
		var failed []json.RawMessage
		api(t, running[0].URL, "GET", "/api/v1/webhooks/"+id+"/deliveries?status=failed&per_page=100", testAdminKey, nil, &failed)
		if len(failed) != 0 {
			t.Errorf("webhook %s has %d failed deliveries after the rotation, want 0: %s", id, len(failed), failed[0])
		}
	}
	for _, s := range running {
		for _, secret := range []string{oldKey, newKey} {
			if strings.Contains(s.Stdout.String(), secret) {
				t.Errorf("the server printed an encryption key")
			}
		}
	}

	// The old key alone no longer opens the database: a server refuses to start.
	for _, s := range running {
		s.stop()
	}
	var stdout, stderr bytes.Buffer
	e := env(oldKey)
	if dbURL == "" {
		delete(e, "HERALD_ENCRYPTION_KEY") // back to the data directory's old key file
	}
	argv := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir(0), "--admin-key", testAdminKey}
	err := run(t.Context(), argv, &stdout, &stderr, func(k string) string { return e[k] })
	if err == nil || !strings.Contains(err.Error(), "does not open this database's secrets") {
		t.Fatalf("serve with only the old key after rotation: %v; want a refusal saying the key does not open the secrets", err)
	}
}

// TestEncryptionCheckMovesOnlyWithTheRotation checks which keys a server may start with
// at each step of a rotation: starting with the new key (and the old as previous) must
// not make the old key alone look wrong, as a rollback or a server still on the old
// configuration needs it; only rotate-encryption-key moves the check to the new key.
func TestEncryptionCheckMovesOnlyWithTheRotation(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "herald.db")
	oldKey, newKey := newEncryptionKey(), newEncryptionKey()
	starts := func(primary string, previous ...string) error {
		t.Helper()
		key, err := secretbox.ParseKey(primary)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := newKeyring(key, strings.Join(previous, ","))
		if err != nil {
			t.Fatal(err)
		}
		store, err := sqlite.Open(t.Context(), dbPath, ring)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		return checkEncryptionKey(t.Context(), store, ring)
	}
	mustStart := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: refused: %v", what, err)
		}
	}
	mustStart("first start with the old key", starts(oldKey))
	mustStart("the new key with the old as previous", starts(newKey, oldKey))
	mustStart("the old key alone, before the rotation (a rollback)", starts(oldKey))
	if err := starts(newKey); err == nil {
		t.Fatal("the new key alone started before any secret was re-sealed under it")
	}

	env := map[string]string{"HERALD_DATABASE_URL": dbPath, "HERALD_ENCRYPTION_KEY": newKey, "HERALD_PREVIOUS_ENCRYPTION_KEYS": oldKey}
	if err := run(t.Context(), []string{"rotate-encryption-key"}, io.Discard, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	mustStart("the new key alone, after the rotation", starts(newKey))
	if err := starts(oldKey); err == nil {
		t.Fatal("the old key alone started after the rotation re-sealed everything under the new key")
	}
}
