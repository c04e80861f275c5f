package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testAdminKey is the admin key every test server runs with.
const testAdminKey = "hk_admin_test-key-for-end-to-end-tests"

// syncBuffer is an io.Writer the server writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// testServer is `herald serve` running in this process.
type testServer struct {
	URL     string
	DataDir string
	Stdout  *syncBuffer
	stop    func()
}

// startServer runs `herald serve` in-process on a free port with dataDir, private
// networks allowed (receivers are on loopback) and args appended, and stops it at the
// end of the test.
func startServer(t testing.TB, dataDir string, args ...string) *testServer {
	t.Helper()
	return startServerEnv(t, dataDir, nil, args...)
}

// startServerEnv is startServer with env as the environment serve reads (getenv).
func startServerEnv(t testing.TB, dataDir string, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--admin-key", testAdminKey, "--allow-private-networks", "--poll-interval", "50ms",
		"--log-level", "warn"}, args...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, argv, stdout, stderr, func(k string) string { return env[k] }) }()

	s := &testServer{DataDir: dataDir, Stdout: stdout}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v\n%s", err, stderr)
			}
		})
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			s.URL = m[1]
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before listening: %v\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start in 30s\n%s", stderr)
		}
	}
}

// onlyDeliveryID returns the id of the one delivery of event eventID, read with the
// admin key, and fails the test when the event has any other number of deliveries.
func onlyDeliveryID(t testing.TB, baseURL, eventID string) string {
	t.Helper()
	var event struct {
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	if code := api(t, baseURL, http.MethodGet, "/api/v1/events/"+eventID, testAdminKey, nil, &event); code != http.StatusOK {
		t.Fatalf("GET event %s: %d", eventID, code)
	}
	if len(event.Deliveries) != 1 {
		t.Fatalf("event %s has %d deliveries, want 1", eventID, len(event.Deliveries))
	}
	return event.Deliveries[0].ID
}

// api calls the server's API with key and a JSON body (nil for none) and decodes a
// JSON answer into out (nil to skip). It returns the status code.
func api(t testing.TB, baseURL, method, path, key string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, baseURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	if out, ok := out.(*apiError); ok && resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode error %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// apiError is the API's error body.
type apiError struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Details string `json:"details"`
}

// webhookResource is the part of the webhook resource the tests read.
type webhookResource struct {
	ID             string `json:"id"`
	Secret         string `json:"secret"`
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason"`
}

// delivered is one request a receiver got.
type delivered struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an httptest endpoint that records what it receives and answers with a
// status the test can change.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivered
	status int
	notify chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rc := &receiver{status: http.StatusOK, notify: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: read body: %v", err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{Header: r.Header.Clone(), Body: body, At: time.Now()})
		status := rc.status
		rc.mu.Unlock()
		select {
		case rc.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = code
}

func (rc *receiver) requests() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

// waitFor waits until the receiver has at least n requests, failing after timeout.
func (rc *receiver) waitFor(t testing.TB, n int, timeout time.Duration) []delivered {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := rc.requests(); len(got) >= n {
			return got
		}
		select {
		case <-rc.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("receiver got %d requests in %s, want %d", len(rc.requests()), timeout, n)
		}
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %q", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %q", b)
	}
	xs, _ := json.Marshal(x) // re-marshalling decoded JSON cannot fail
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
