package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
)

// harness holds what every scenario of one `herald bench` run shares: the receiver,
// the HTTP client and the temporary directory the servers keep their data in.
type harness struct {
	cfg    *config
	log    io.Writer
	rcv    *Receiver // nil with --receiver
	target string    // the receiver's base URL
	client *http.Client
	tmp    string
	key    string // admin key of the servers bench starts
}

func newHarness(cfg *config, log io.Writer) (*harness, error) {
	b := &harness{
		cfg: cfg, log: log,
		client: &http.Client{
			Timeout: 5 * time.Minute, // a batch of 1,000 on a busy machine, never forever
			Transport: &http.Transport{
				Proxy:               nil, // loopback and the user's own Herald: never through a proxy
				MaxIdleConns:        1024,
				MaxIdleConnsPerHost: 1024,
				IdleConnTimeout:     time.Minute,
			},
		},
		key: herald.NewAPIKey(herald.PrefixAdminKey),
	}
	tmp, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temporary directory: %w", err)
	}
	b.tmp = tmp
	if cfg.receiver != "" {
		b.target = strings.TrimSuffix(cfg.receiver, "/")
		return b, nil
	}
	b.rcv, err = StartReceiver(0)
	if err != nil {
		b.close()
		return nil, err
	}
	b.target = b.rcv.URL
	return b, nil
}

func (b *harness) close() {
	if b.rcv != nil {
		b.rcv.Close()
	}
	if b.tmp != "" {
		if err := os.RemoveAll(b.tmp); err != nil {
			b.logf("remove %s: %v", b.tmp, err)
		}
	}
}

// logf reports progress on stderr, so stdout holds only the table and the JSON line.
func (b *harness) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// heraldServers are the Herald API endpoints a scenario drives: processes bench started
// (stopped by stop) or the --server one.
type heraldServers struct {
	urls  []string
	key   string
	procs []*heraldProcess
}

// stop ends the processes bench started, gracefully so that CPU profiles are written.
func (s *heraldServers) stop() {
	var wg sync.WaitGroup
	for _, p := range s.procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// meter measures the CPU of the processes bench started; nil with --server, whose
// process bench cannot see.
func (s *heraldServers) meter() cpuMeter {
	if len(s.procs) == 0 {
		return nil
	}
	var pids pidsMeter
	for _, p := range s.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// cpuPerDelivery ends w and returns the CPU its processes used per delivery, in ms; 0,
// with a note on stderr, when it could not be measured.
func (b *harness) cpuPerDelivery(w *cpuWindow, deliveries int, what string) float64 {
	cpu, ok, err := w.stop()
	if err != nil {
		b.logf("  %s: not measured: %v", what, err)
	}
	if !ok {
		return 0
	}
	ms := perDelivery(cpu, deliveries)
	b.logf("  %s: %.3f s over %d deliveries, %.4f ms each", what, cpu.Seconds(), deliveries, ms)
	return ms
}

// peakRSSMB is the largest peak resident set of the processes, in MB; 0 when unknown.
func (s *heraldServers) peakRSSMB() float64 {
	var peak float64
	for _, p := range s.procs {
		peak = max(peak, p.peakRSSMB())
	}
	return peak
}

// servers starts n `herald serve` processes for a scenario, on a new SQLite file when
// databaseURL is empty (n must be 1) or sharing the PostgreSQL database it names, with
// extra flags; with --server it returns that server instead.
func (b *harness) servers(ctx context.Context, scenario string, n int, databaseURL string, extra ...string) (*heraldServers, error) {
	if b.cfg.server != "" {
		return &heraldServers{urls: []string{strings.TrimSuffix(b.cfg.server, "/")}, key: b.cfg.apiKey}, nil
	}
	s := &heraldServers{key: b.key}
	var encryptionKey string
	if databaseURL != "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k) // crypto/rand.Read never fails
		encryptionKey = base64.StdEncoding.EncodeToString(k)
	}
	for i := range n {
		dataDir, err := os.MkdirTemp(b.tmp, scenario+"-")
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("data directory: %w", err)
		}
		args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-key", b.key,
			"--allow-private-networks", "--log-level", "warn", "--log-format", "json"}
		if databaseURL != "" {
			args = append(args, "--database-url", databaseURL, "--encryption-key", encryptionKey)
		} else {
			args = append(args, "--database-url", filepath.Join(dataDir, "herald.db"))
		}
		profile := ""
		if b.cfg.profileDir != "" {
			profile = filepath.Join(b.cfg.profileDir, fmt.Sprintf("%s-%d.pprof", scenario, i+1))
		}
		p, err := startHeraldProcess(ctx, b.cfg.heraldBin, append(args, extra...), profile)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
		s.urls = append(s.urls, p.url)
	}
	return s, nil
}

// serveListening finds the URL in the line herald serve prints once it listens.
var serveListening = regexp.MustCompile(`listening on (http://\S+)`)

// lockedBuffer keeps what a child process writes to stderr, for the error that says
// why it stopped.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil // enough to say what went wrong; a long run must not grow it
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// heraldProcess is a `herald serve` child process.
type heraldProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan struct{}
	once   sync.Once
	peak   float64 // VmHWM read just before the process ended, in MB
}

// startHeraldProcess starts bin with args and waits for it to say where it listens.
// HERALD_* variables of this process are not passed on: the flags bench gives are the
// whole configuration, so a shell set up for a production server does not change the
// figures (or point a benchmark at production data).
func startHeraldProcess(ctx context.Context, bin string, args []string, cpuProfile string) (*heraldProcess, error) {
	p := &heraldProcess{cmd: exec.Command(bin, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	if cpuProfile != "" {
		p.cmd.Env = append(p.cmd.Env, CPUProfileEnv+"="+cpuProfile)
	}
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status of a server bench stops says nothing useful
		close(p.done)
	}()
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := serveListening.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained until the process ends
	}()
	select {
	case p.url = <-found:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("herald serve exited before listening: %s", strings.TrimSpace(p.stderr.String()))
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("herald serve did not start within 2 minutes: %s", p.stderr)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM, then SIGKILL if the process has not ended within 30 s, and keeps
// its peak RSS.
func (p *heraldProcess) stop() {
	p.once.Do(func() {
		p.peak = p.readPeakRSS()
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill() // it would not stop: its figures are taken already
			<-p.done
		}
	})
}

// peakRSSMB is the process's peak resident set size (VmHWM) in MB: read now while it
// runs, or as it was when stopped.
func (p *heraldProcess) peakRSSMB() float64 {
	select {
	case <-p.done:
		return p.peak
	default:
		return max(p.peak, p.readPeakRSS())
	}
}

// readPeakRSS reads VmHWM from /proc; 0 where there is no /proc.
func (p *heraldProcess) readPeakRSS() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return round(kb/1024, 1)
		}
	}
	return 0
}

// call makes one API call to base with the admin key, sending body as JSON (nil for
// none) and decoding a 2xx answer into out (nil to skip). Any other status is an error
// that quotes the answer.
func (b *harness) call(ctx context.Context, s *heraldServers, base, method, path string, body, out any) error {
	_, err := b.do(ctx, s.key, base, method, path, body, out)
	return err
}

// do makes one API call to base with key, sending body as JSON (nil for none) and
// decoding a 2xx answer into out (nil to skip). It returns the status; any status but
// 2xx comes with the *herald.Error the server answered, wrapped with the call.
func (b *harness) do(ctx context.Context, key, base, method, path string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, herald.ErrorFromResponse(resp.StatusCode, data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return resp.StatusCode, nil
}

// createWebhooks registers n standard-format webhooks on s, the i-th at the receiver's
// path(i), with extra fields, and returns their ids. Each sends a ping: callers wait for
// those (waitIdle) so that a measurement starts on an idle server.
func (b *harness) createWebhooks(ctx context.Context, s *heraldServers, n int, path func(i int) string, extra func(i int) map[string]any) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && errs[w] == nil; i = int(next.Add(1)) - 1 {
				body := map[string]any{"name": fmt.Sprintf("bench %d", i), "url": b.target + path(i),
					"format": "standard", "events": []string{eventType}}
				if extra != nil {
					for k, v := range extra(i) {
						body[k] = v
					}
				}
				var out struct {
					ID string `json:"id"`
				}
				errs[w] = b.call(ctx, s, s.urls[i%len(s.urls)], "POST", "/api/v1/webhooks", body, &out)
				ids[i] = out.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create webhooks: %w", err)
	}
	return ids, nil
}

// deleteWebhooks removes what a scenario registered on a --server it does not own.
func (b *harness) deleteWebhooks(ctx context.Context, s *heraldServers, ids []string) {
	if b.cfg.server == "" {
		return // the server and its database go away with the scenario
	}
	for _, id := range ids {
		if err := b.call(ctx, s, s.urls[0], "DELETE", "/api/v1/webhooks/"+id, nil, nil); err != nil {
			b.logf("clean up: %v", err)
		}
	}
}

// waitIdle waits until s has no pending deliveries, reading its herald_deliveries_pending
// gauge.
func (b *harness) waitIdle(ctx context.Context, s *heraldServers, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := b.pending(ctx, s)
		if err == nil && n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("wait for the server to be idle: %w", err)
			}
			return fmt.Errorf("the server still has %d pending deliveries after %s", n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pending reads the herald_deliveries_pending gauge of s.
func (b *harness) pending(ctx context.Context, s *heraldServers) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.urls[0]+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "herald_deliveries_pending "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(v), err
		}
	}
	if err := lines.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("GET /metrics: %d, no herald_deliveries_pending gauge", resp.StatusCode)
}

// eventType is the catalog type every benchmark event has: a small payload.
const eventType = "drift.resolved"

// benchEvent is one event to publish, with its own id so its receipt can be matched.
func newEvent(id, tenant string) map[string]any {
	e := map[string]any{"id": id, "type": eventType,
		"data": map[string]any{"drift_id": 55, "resolved_by": 1, "resolved_at": "2024-01-15T15:00:00Z"}}
	if tenant != "" {
		e["tenant_id"] = tenant
	}
	return e
}
