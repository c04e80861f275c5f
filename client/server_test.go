package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/webhook"
)

const adminKey = "hk_admin_client-package-test-key"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// heraldBinary builds cmd/herald once for the package's tests and examples.
func heraldBinary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-client-test")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/heraldhq/herald/cmd/herald").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build herald: %w: %s", err, out)
		}
	})
	return binary, buildErr
}

// TestMain removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// runHerald runs `herald serve` as its own process on a free loopback port with a fresh
// SQLite data directory, and returns its URL and the function that stops it and removes
// the directory.
func runHerald() (string, func(), error) {
	bin, err := heraldBinary()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "herald-client-data")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--admin-key", adminKey, "--allow-private-networks", "--poll-interval", "50ms", "--log-level", "warn")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		cancel()
		_ = cmd.Wait() // interrupted: its exit status says nothing more
		os.RemoveAll(dir)
	}
	found := make(chan string, 1)
	go func() {
		listening := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained
	}()
	select {
	case u := <-found:
		return u, stop, nil
	case <-time.After(60 * time.Second):
		stop()
		return "", nil, fmt.Errorf("herald serve did not start in 60 s:\n%s", stderr.String())
	}
}

// startHerald is runHerald for a test, stopped at its end.
func startHerald(t *testing.T) string {
	t.Helper()
	u, stop, err := runHerald()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return u
}

// received is one request an endpoint got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// endpoint is a receiver that records every request and answers 204.
type endpoint struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

func newEndpoint(t *testing.T) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("endpoint: %v", err)
		}
		e.mu.Lock()
		e.got = append(e.got, received{r.Header.Clone(), body, time.Now()})
		e.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.Close)
	return e
}

// waitFor waits until the endpoint got n requests.
func (e *endpoint) waitFor(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e.mu.Lock()
		got := append([]received(nil), e.got...)
		e.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d requests in 60 s, want %d", e.URL, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedExamples are the data of the seed pages' examples, by event type, as the catalog
// keeps them verbatim; the access_request.approved example serves both decisions.
func seedExamples(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	dir := filepath.Join("..", "catalog", "testdata", "seeds")
	files, err := fs.Glob(os.DirFS(dir), "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("seed examples in %s: %v", dir, err)
	}
	out := map[string]json.RawMessage{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(f, ".json")] = data
	}
	out["access_request.denied"] = out["access_request.approved"]
	return out
}

// TestAgainstHeraldServe creates a webhook in each format with the client against a real
// `herald serve`, publishes every seed example, and verifies every request each
// endpoint got with package webhook; then checks that a changed body, a wrong secret and
// (standard, the one format with a signed timestamp) a stale timestamp each fail with
// their own error. The Standard Webhooks and ed25519 test vectors are checked by
// package webhook (TestVerifyStandard, TestSignStandard).
func TestAgainstHeraldServe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := client.New(startHerald(t), adminKey)
	if err != nil {
		t.Fatal(err)
	}
	seeds := seedExamples(t)

	catalog, err := c.EventTypes.List(ctx)
	if err != nil {
		t.Fatalf("EventTypes.List: %v", err)
	}
	for typ := range seeds {
		found := false
		for _, et := range catalog {
			found = found || et.Type == typ
		}
		if !found {
			t.Errorf("seed type %s is not in the server's catalog", typ)
		}
	}

	type subscribed struct {
		format   webhook.Format
		endpoint *endpoint
		hook     *client.Webhook
	}
	var subs []subscribed
	for _, f := range []webhook.Format{webhook.FormatStandard, webhook.FormatInfraAudit, webhook.FormatFrugally} {
		e := newEndpoint(t)
		wh, err := c.Webhooks.Create(ctx, client.WebhookCreate{Name: string(f) + " receiver", URL: e.URL, Format: herald.Format(f)})
		if err != nil {
			t.Fatalf("create a %s webhook: %v", f, err)
		}
		if wh.Secret == "" || wh.Format != herald.Format(f) || !wh.Enabled {
			t.Fatalf("created %s webhook: %+v, want it enabled, in its format, with its secret", f, wh)
		}
		subs = append(subs, subscribed{f, e, wh})
	}

	ids := map[string]string{} // event id → type
	for typ, data := range seeds {
		res, err := c.Events.Publish(ctx, client.Event{Type: typ, Data: data})
		if err != nil {
			t.Fatalf("publish the %s seed: %v", typ, err)
		}
		if res.Deliveries != len(subs) || res.Duplicate {
			t.Errorf("publish %s: %+v, want %d deliveries, not a duplicate", typ, res, len(subs))
		}
		ids[res.ID] = typ
	}

	for _, s := range subs {
		got := s.endpoint.waitFor(t, len(seeds)+1) // the creation ping, then every seed
		v, err := webhook.NewVerifier(s.format, s.hook.Secret)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range got {
			v.Now = func() time.Time { return r.at }
			if err := v.Verify(r.header, r.body); err != nil {
				t.Errorf("%s: a delivery does not verify: %v\n%s", s.format, err, r.body)
				continue
			}
			ev, err := webhook.Parse(s.format, r.header, r.body)
			if err != nil {
				t.Errorf("%s: parse a verified delivery: %v", s.format, err)
				continue
			}
			seen[ev.Type] = true
		}
		for typ := range seeds {
			if !seen[typ] {
				t.Errorf("%s: no verified delivery of %s", s.format, typ)
			}
		}

		r := got[len(got)-1]
		v.Now = func() time.Time { return r.at }
		changed := append([]byte(nil), r.body...)
		changed[len(changed)-2] ^= 1 // inside the JSON, before its closing brace
		if err := v.Verify(r.header, changed); !errors.Is(err, webhook.ErrBodyChanged) {
			t.Errorf("%s: changed body: %v, want ErrBodyChanged", s.format, err)
		}
		wrong, err := webhook.NewVerifier(s.format, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
		if err != nil {
			t.Fatal(err)
		}
		wrong.Now = v.Now
		if err := wrong.Verify(r.header, r.body); !errors.Is(err, webhook.ErrWrongSecret) {
			t.Errorf("%s: wrong secret: %v, want ErrWrongSecret", s.format, err)
		}
		if s.format == webhook.FormatStandard {
			v.Now = func() time.Time { return r.at.Add(10 * time.Minute) }
			if err := v.Verify(r.header, r.body); !errors.Is(err, webhook.ErrTimestampOutOfTolerance) {
				t.Errorf("standard: verified 10 min late: %v, want ErrTimestampOutOfTolerance", err)
			}
		}
	}

	// Iterating goes through every page: deliveries follow the server's next links,
	// webhooks count pages.
	deliveries := map[string]bool{}
	for d, err := range c.Deliveries.All(ctx, client.DeliveryListOptions{ListOptions: client.ListOptions{PerPage: 10}}) {
		if err != nil {
			t.Fatalf("Deliveries.All: %v", err)
		}
		deliveries[d.ID] = true
	}
	if want := len(subs) * (len(seeds) + 1); len(deliveries) != want {
		t.Errorf("Deliveries.All, 10 a page: %d distinct deliveries, want %d", len(deliveries), want)
	}
	var hooks []string
	for wh, err := range c.Webhooks.All(ctx, client.WebhookListOptions{ListOptions: client.ListOptions{PerPage: 2}}) {
		if err != nil {
			t.Fatalf("Webhooks.All: %v", err)
		}
		hooks = append(hooks, wh.ID)
	}
	if len(hooks) != len(subs) {
		t.Errorf("Webhooks.All, 2 a page: %v, want the %d webhooks", hooks, len(subs))
	}

	// What the server recorded agrees with what arrived.
	for id, typ := range ids {
		ev, err := c.Events.Get(ctx, id)
		if err != nil {
			t.Fatalf("Events.Get %s: %v", id, err)
		}
		if ev.Type != typ || len(ev.Deliveries) != len(subs) {
			t.Errorf("event %s: type %s with %d deliveries, want %s with %d", id, ev.Type, len(ev.Deliveries), typ, len(subs))
		}
	}
}
