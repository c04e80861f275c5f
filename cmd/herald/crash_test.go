package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildHerald compiles this command into a temporary directory.
func buildHerald(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is `herald serve` running as a child process.
type process struct {
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
}

func startProcess(t testing.TB, bin, dataDir string, args ...string) *process {
	t.Helper()
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--admin-key", testAdminKey, "--allow-private-networks", "--log-level", "warn"}, args...)
	p := &process{cmd: exec.Command(bin, argv...), stderr: &syncBuffer{}}
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			p.URL = m[1]
			go io.Copy(io.Discard, stdout) // keep the pipe drained
			return p
		}
	}
	t.Fatalf("herald exited before listening: %s", p.stderr)
	return nil
}

// steadyPublishers publish schedule.paused events, each with a new id, from several
// goroutines until stopped, and remember which ids were acknowledged.
type steadyPublishers struct {
	acked             sync.Map // id → true
	ackCount, refused atomic.Int64
	done              chan struct{}
	wg                sync.WaitGroup
}

// publishSteadily starts n publishers; publisher w sends its i-th event, with id
// evt_<prefix>_<w>_<i>, to serverURL(i). A refused or failed publish is counted and the
// publisher goes on after a pause: the server may be down or reconnecting.
func publishSteadily(prefix string, n int, serverURL func(i int) string) *steadyPublishers {
	p := &steadyPublishers{done: make(chan struct{})}
	for w := range n {
		p.wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-p.done:
					return
				default:
				}
				id := fmt.Sprintf("evt_%s_%d_%d", prefix, w, i)
				body := fmt.Sprintf(`{"id":%q,"type":"schedule.paused","data":{"schedule_id":"s","name":"n","paused_by":"u"}}`, id)
				req, _ := http.NewRequest("POST", serverURL(i)+"/api/v1/events", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer "+testAdminKey)
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
						p.acked.Store(id, true)
						p.ackCount.Add(1)
						continue
					}
				}
				p.refused.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return p
}

// stop stops the publishers and waits for them.
func (p *steadyPublishers) stop() {
	close(p.done)
	p.wg.Wait()
}

// missing counts the acknowledged events that received says did not arrive.
func (p *steadyPublishers) missing(received func(id string) bool) int {
	n := 0
	p.acked.Range(func(k, _ any) bool {
		if !received(k.(string)) {
			n++
		}
		return true
	})
	return n
}

// waitUntil polls cond until it holds and reports whether it did within timeout.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestSigtermFinishesInFlight sends SIGTERM while attempts are in flight to a slow
// receiver: the process lets them finish and records them, then exits 0; a restart
// sends none of them again.
func TestSigtermFinishesInFlight(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and signals a real server")
	}
	bin := buildHerald(t)
	dataDir := t.TempDir()
	var mu sync.Mutex
	received := map[string]int{}
	started := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		started <- struct{}{}
		time.Sleep(time.Second) // still answering when SIGTERM comes
		mu.Lock()
		received[id]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)

	p := startProcess(t, bin, dataDir, "--attempt-timeout", "5s")
	var wh webhookResource
	if code := api(t, p.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "slow", "url": srv.URL, "events": []string{"schedule.paused"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	<-started // the creation ping
	for i := range 5 {
		if code := api(t, p.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"id": fmt.Sprintf("evt_term_%d", i), "type": "schedule.paused",
			"data": map[string]string{"schedule_id": "s", "name": "n", "paused_by": "u"},
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	for range 5 {
		<-started
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, p.stderr)
	}
	took := time.Since(start)

	p2 := startProcess(t, bin, dataDir)
	var ds []deliveryResource
	api(t, p2.URL, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries?event_type=schedule.paused", testAdminKey, nil, &ds)
	for _, d := range ds {
		if d.Status != "success" || len(d.Attempts) != 1 {
			t.Errorf("delivery %s after SIGTERM: %s with %d attempts, want success with 1", d.ID, d.Status, len(d.Attempts))
		}
	}
	time.Sleep(time.Second) // give the restarted dispatcher a chance to send anything left
	mu.Lock()
	defer mu.Unlock()
	for i := range 5 {
		if n := received[fmt.Sprintf("evt_term_%d", i)]; n != 1 {
			t.Errorf("evt_term_%d received %d times, want once", i, n)
		}
	}
	if len(ds) != 5 {
		t.Fatalf("%d deliveries logged, want 5", len(ds))
	}
	t.Logf("SIGTERM with 5 attempts in flight: exited 0 after %s", took.Round(time.Millisecond))
}
