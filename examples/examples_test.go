package examples_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// adminKey is the admin key the test server runs with.
const adminKey = "hk_admin_examples-test-key"

// subtestTimeout bounds one receiver's run, so that a hang fails rather than waits for
// go test's own timeout.
const subtestTimeout = 60 * time.Second

var formats = []string{"infraaudit", "frugally", "standard"}

// TestReceivers runs every example receiver, in every format, against a real Herald
// server: the webhook's ping and a published drift.detected event must verify, a
// forced second delivery of the same delivery must be reported as a duplicate, and
// requests sent straight to the receiver must be refused (a wrong signature, a malformed
// body, for standard a stale timestamp) or accepted (signed only with the rotation's new
// secret) as the format says.
func TestReceivers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Herald and runs the Python, Node.js and Go receivers")
	}
	// A missing interpreter fails the test: a skip would let a broken example pass CI.
	python := lookPath(t, "python3")
	node := lookPath(t, "node")

	bin := t.TempDir()
	heraldBin, goReceiverBin := filepath.Join(bin, "herald"), filepath.Join(bin, "receiver-go")
	goBuild(t, map[string]string{
		heraldBin:     "github.com/heraldhq/herald/cmd/herald",
		goReceiverBin: "./go",
	})

	srv := startHerald(t, heraldBin)
	sample := driftSample(t, srv)

	receivers := []struct {
		lang string
		argv []string
	}{
		{"python", []string{python, filepath.Join("python", "receiver.py")}},
		{"node", []string{node, filepath.Join("node", "receiver.mjs")}},
		{"go", []string{goReceiverBin}},
	}
	for _, rc := range receivers {
		for _, format := range formats {
			t.Run(rc.lang+"/"+format, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
				defer cancel()
				testReceiver(ctx, t, srv, rc.lang, rc.argv, format, sample)
			})
		}
	}
}

// testReceiver runs one receiver in one format through the whole scenario.
func testReceiver(ctx context.Context, t *testing.T, srv *herald, lang string, argv []string, format string, sample json.RawMessage) {
	// Its own tenant, so that the other subtests' events do not reach this receiver.
	tenant := "examples-" + lang + "-" + format
	if code, msg := srv.api(ctx, t, "POST", "/api/v1/tenants", map[string]any{"id": tenant, "name": tenant}, nil); code != 201 {
		t.Fatalf("create tenant %s: %d %s, want 201", tenant, code, msg)
	}

	// The receiver knows two secrets, as during a rotation: one Herald never had, and the
	// webhook's. It starts first, so that the webhook's ping finds it.
	secret, otherSecret := newSecret(t), newSecret(t)
	rc := startReceiver(ctx, t, slices.Concat(argv, []string{"--format", format, "--secret", otherSecret, "--secret", secret, "--port", "0"}))

	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	mark := rc.mark()
	code, msg := srv.api(ctx, t, "POST", "/api/v1/webhooks", map[string]any{
		"name": tenant, "url": fmt.Sprintf("http://127.0.0.1:%d/webhooks/herald", rc.port),
		"events": []string{"drift.detected"}, "format": format, "secret": secret, "tenant_id": tenant,
	}, &wh)
	if code != 201 || wh.Secret != secret {
		t.Fatalf("create webhook: %d %s, secret %q; want 201 and the secret supplied", code, msg, wh.Secret)
	}
	ctx = srv.failFast(ctx, t, wh.ID)
	rc.waitLine(ctx, t, mark, "the ping sent at creation verified", func(l string) bool {
		return strings.HasPrefix(l, "verified type=ping key=")
	})

	// A published event arrives once and verifies.
	var published struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	mark = rc.mark()
	code, msg = srv.api(ctx, t, "POST", "/api/v1/events", publication(t, tenant, sample), &published)
	if code != 202 || published.Deliveries != 1 {
		t.Fatalf("publish: %d %s, %d deliveries; want 202 and 1", code, msg, published.Deliveries)
	}
	var event struct {
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	if code, msg := srv.api(ctx, t, "GET", "/api/v1/events/"+published.ID, nil, &event); code != 200 || len(event.Deliveries) != 1 {
		t.Fatalf("get event %s: %d %s, %d deliveries; want 200 and 1", published.ID, code, msg, len(event.Deliveries))
	}
	deliveryID := event.Deliveries[0].ID
	key := published.ID // frugally's id and standard's webhook-id are the event id
	if format == "infraaudit" {
		key = deliveryID
	}
	rc.waitLine(ctx, t, mark, "the event verified", exactly("verified type=drift.detected key="+key))

	// The same delivery again is a duplicate, answered 200.
	mark = rc.mark()
	attempt := srv.retry(ctx, t, deliveryID)
	if attempt.StatusCode != 200 {
		t.Fatalf("the retried attempt was answered %d (%s), want 200", attempt.StatusCode, attempt.Error)
	}
	rc.answered(ctx, t, mark, "the retry was a duplicate", "duplicate type=drift.detected key="+key)

	// Requests sent straight to the receiver, each with a key not seen before.
	direct := []directRequest{{
		name: "signed with a secret the receiver does not have", secret: newSecret(t),
		status: 401, line: "rejected status=401 reason=signature_mismatch",
	}, {
		name: "signed only with the rotation's new secret", secret: newSecret(t), next: secret,
		status: 200, line: "verified type=drift.detected key={key}",
	}, {
		name: "signed, but not JSON", secret: secret, notJSON: true,
		status: 400, line: "rejected status=400 reason=malformed_body",
	}}
	if format == "standard" {
		direct = append(direct, directRequest{
			name: "signed ten minutes ago", secret: secret, age: 10 * time.Minute,
			status: 401, line: "rejected status=401 reason=timestamp_out_of_tolerance",
		})
	}
	for i, d := range direct {
		id := fmt.Sprintf("evt_direct_%d_%d", i, time.Now().UnixNano())
		body := envelope(format, id, sample)
		if d.notJSON {
			body = []byte(`{"event": not json`)
		}
		mark := rc.mark()
		status := post(ctx, t, rc.port, sign(format, d.secret, d.next, id, body, time.Now().Add(-d.age)), body)
		if status != d.status {
			t.Fatalf("%s: receiver answered %d, want %d", d.name, status, d.status)
		}
		rc.answered(ctx, t, mark, d.name, strings.ReplaceAll(d.line, "{key}", id))
	}
}

// directRequest is a request the test signs and sends to a receiver itself.
type directRequest struct {
	name         string
	secret, next string        // the secrets that sign it: as during a rotation if next is set
	notJSON      bool          // whether the body is not JSON, rather than the format's envelope
	age          time.Duration // how long ago it was signed
	status       int           // the answer expected
	line         string        // the line expected; {key} stands for the request's key
}

// lookPath returns the path of program, failing the test if it is not installed.
func lookPath(t *testing.T, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s is not on PATH, so its example receiver cannot be tested: install it (or run go test -short)", program)
	}
	return path
}

// goBuild builds each package into its output path, all at once.
func goBuild(t *testing.T, outputs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for out, pkg := range outputs {
		wg.Go(func() {
			if b, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				t.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// process is a child process whose stdout is kept line by line.
type process struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // written by exec's copying goroutine until exited is closed
	exited chan struct{}

	mu      sync.Mutex
	lines   []string
	partial []byte
	changed chan struct{} // receives after new lines, without blocking the writer
}

// start starts argv and kills it at the end of the test, after which its output is
// logged if the test failed.
func start(t *testing.T, name string, argv []string) *process {
	t.Helper()
	return startEnv(t, name, argv, nil)
}

// startEnv is start with env added to the process's environment.
func startEnv(t *testing.T, name string, argv, env []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan struct{}), changed: make(chan struct{}, 1)}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = p
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 5 * time.Second // don't wait forever for a pipe a grandchild holds
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	var waitErr error
	go func() {
		waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // fails only if it has exited already, which is fine
		<-p.exited
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("%s (%v) stdout:\n%s\nstderr:\n%s", name, waitErr, strings.Join(p.lines, "\n"), p.stderr.String())
		}
	})
	return p
}

// Write collects the process's stdout into lines.
func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, strings.TrimSuffix(string(p.partial[:i]), "\r"))
		p.partial = p.partial[i+1:]
	}
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return len(b), nil
}

// mark returns the number of lines printed so far, for waitLine.
func (p *process) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// waitLine waits for a line after the first from that match says is the one, and
// returns it. It fails the test if the process exits or ctx ends first.
func (p *process) waitLine(ctx context.Context, t *testing.T, from int, what string, match func(string) bool) string {
	t.Helper()
	for {
		// Once exited is closed every line is in p.lines: look a last time, then give up.
		exited := false
		select {
		case <-p.exited:
			exited = true
		default:
		}
		p.mu.Lock()
		for _, l := range p.lines[from:] {
			if match(l) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		if exited {
			t.Fatalf("waiting for a line saying %s: the process exited", what)
		}
		select {
		case <-p.changed:
		case <-p.exited:
		case <-ctx.Done():
			t.Fatalf("waiting for a line saying %s: %v", what, context.Cause(ctx))
		}
	}
}

// answered waits a little for the line want, after the first from, that a request
// already answered must have printed: the receivers print before they answer.
func (p *process) answered(ctx context.Context, t *testing.T, from int, what, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.waitLine(ctx, t, from, what, exactly(want))
}

// exactly matches the line want.
func exactly(want string) func(string) bool {
	return func(l string) bool { return l == want }
}

// receiver is an example receiver running on a port it chose.
type receiver struct {
	*process
	port int
}

var listeningOnPort = regexp.MustCompile(`^listening on ([0-9]+)$`)

// startReceiver runs argv and waits for its "listening on <port>" line.
func startReceiver(ctx context.Context, t *testing.T, argv []string) *receiver {
	t.Helper()
	return startReceiverEnv(ctx, t, argv, nil)
}

// startReceiverEnv is startReceiver with env added to the receiver's environment.
func startReceiverEnv(ctx context.Context, t *testing.T, argv, env []string) *receiver {
	t.Helper()
	p := startEnv(t, "receiver", argv, env)
	line := p.waitLine(ctx, t, 0, "listening on <port>", listeningOnPort.MatchString)
	port, err := strconv.Atoi(listeningOnPort.FindStringSubmatch(line)[1])
	if err != nil || port == 0 {
		t.Fatalf("receiver printed %q: not a port", line)
	}
	return &receiver{process: p, port: port}
}

// herald is `herald serve` running as a child process.
type herald struct {
	*process
	url string
}

var listeningOnURL = regexp.MustCompile(`listening on (http://\S+)`)

// startHerald runs bin serve on a free port with a new data directory and waits until
// it is ready. Retries come quickly, should a receiver fail an attempt.
func startHerald(t *testing.T, bin string) *herald {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p := start(t, "herald", []string{bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--admin-key", adminKey, "--allow-private-networks", "--retry-schedule", "200ms,200ms",
		"--poll-interval", "50ms", "--log-level", "warn"})
	line := p.waitLine(ctx, t, 0, "listening on <url>", listeningOnURL.MatchString)
	h := &herald{process: p, url: listeningOnURL.FindStringSubmatch(line)[1]}
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", h.url+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("herald not ready in 30s: %v, %v", err, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// api calls Herald's API as the admin with a body (nil for none; []byte sent as it is,
// anything else as JSON), decodes a 2xx answer into out (nil to skip) and returns the
// status code and, for any other, the answer's body. It fails the test if no answer
// comes.
func (h *herald) api(ctx context.Context, t *testing.T, method, path string, body, out any) (int, string) {
	t.Helper()
	code, msg, err := h.do(ctx, method, path, body, out)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, msg
}

// do is api without the test, for goroutines.
func (h *herald) do(ctx context.Context, method, path string, body, out any) (int, string, error) {
	var r io.Reader
	if b, ok := body.([]byte); ok {
		r = bytes.NewReader(b)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, r)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, string(data), nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, "", fmt.Errorf("decode %q: %w", data, err)
		}
	}
	return resp.StatusCode, "", nil
}

// failFast returns ctx, cancelled as soon as Herald gives up on a delivery to webhook
// id, with its attempts as the cause: a receiver that refuses Herald's requests fails
// the test in a second rather than at the deadline.
func (h *herald) failFast(ctx context.Context, t *testing.T, id string) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	t.Cleanup(func() {
		cancel(nil)
		<-stopped
	})
	go func() {
		defer close(stopped)
		for {
			var failed []struct {
				ID        string    `json:"id"`
				EventType string    `json:"event_type"`
				Attempts  []attempt `json:"attempts"`
			}
			code, _, err := h.do(ctx, "GET", "/api/v1/webhooks/"+id+"/deliveries?status=failed", nil, &failed)
			if err == nil && code == 200 && len(failed) > 0 {
				d := failed[0]
				var answers []string
				for _, a := range d.Attempts {
					answers = append(answers, fmt.Sprintf("%d %s", a.StatusCode, a.Error))
				}
				cancel(fmt.Errorf("Herald gave up on delivery %s (%s), its attempts answered %q", d.ID, d.EventType, answers))
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return ctx
}

// attempt is the part of an attempt the test reads.
type attempt struct {
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
}

// retry sends delivery id again now and returns the new attempt. Herald answers 409
// while the delivery is being sent or recorded, so it tries until it may.
func (h *herald) retry(ctx context.Context, t *testing.T, id string) attempt {
	t.Helper()
	for {
		var d struct {
			Attempts []attempt `json:"attempts"`
		}
		code, msg := h.api(ctx, t, "POST", "/api/v1/deliveries/"+id+"/retry", nil, &d)
		switch code {
		case 200:
			if len(d.Attempts) < 2 {
				t.Fatalf("retry %s: %d attempts after the retry, want at least 2", id, len(d.Attempts))
			}
			return d.Attempts[len(d.Attempts)-1]
		case 409:
			select {
			case <-ctx.Done():
				t.Fatalf("retry %s: still 409: %v", id, context.Cause(ctx))
			case <-time.After(50 * time.Millisecond):
			}
		default:
			t.Fatalf("retry %s: %d %s, want 200", id, code, msg)
		}
	}
}

// publication returns the body of POST /api/v1/events for a drift.detected event of
// tenant, as bytes to send as they are. Its data is the sample indented, with a field
// added that has escapes in it: Herald sends data byte for byte as published, and a
// receiver that parsed and re-serialised the body before verifying it would change it.
func publication(t *testing.T, tenant string, sample json.RawMessage) []byte {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(sample, &fields); err != nil {
		t.Fatalf("sample %s: %v", sample, err)
	}
	fields["note"] = json.RawMessage(`"caf\u00e9 \u003cb\u003e \/ \ud83d\ude80"`)
	data, err := json.MarshalIndent(fields, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"type": "drift.detected", "tenant_id": %q, "data": %s}`, tenant, data)
}

// driftSample returns the catalog's sample data for drift.detected: the InfraAudit
// page's example.
func driftSample(t *testing.T, h *herald) json.RawMessage {
	t.Helper()
	var types []struct {
		Type   string          `json:"type"`
		Sample json.RawMessage `json:"sample"`
	}
	if code, msg := h.api(t.Context(), t, "GET", "/api/v1/event-types", nil, &types); code != 200 {
		t.Fatalf("GET /api/v1/event-types: %d %s, want 200", code, msg)
	}
	for _, et := range types {
		if et.Type == "drift.detected" && len(et.Sample) > 0 {
			return et.Sample
		}
	}
	t.Fatal("the catalog has no drift.detected sample")
	return nil
}

// newSecret returns a secret every format accepts: whsec_ and 32 random bytes in base64.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// envelope returns a drift.detected body in format whose dedupe key is id.
func envelope(format, id string, data json.RawMessage) []byte {
	ts := time.Now().UTC().Format(time.RFC3339)
	var v any
	switch format {
	case "infraaudit":
		v = map[string]any{"event": "drift.detected", "timestamp": ts, "webhook_id": "wh_direct", "delivery_id": id, "data": data}
	case "frugally":
		v = map[string]any{"id": id, "type": "drift.detected", "timestamp": ts, "team_id": "team_direct", "data": data}
	default:
		v = map[string]any{"type": "drift.detected", "timestamp": ts, "data": data}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and valid JSON always marshal
	}
	return b
}

// sign returns the signature headers of body in format, as Herald sends them during a
// rotation: signed with secret and, if next is not empty, with next too (in the -Next
// header, or as a second webhook-signature entry). For standard, id is the webhook-id.
func sign(format, secret, next, id string, body []byte, at time.Time) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	hmacOf := func(key, msg []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		return m.Sum(nil)
	}
	switch format {
	case "infraaudit", "frugally":
		name := map[string]string{"infraaudit": "X-InfraAudit-Signature", "frugally": "X-Frugally-Signature"}[format]
		h.Set(name, "sha256="+hex.EncodeToString(hmacOf([]byte(secret), body)))
		if next != "" {
			h.Set(name+"-Next", "sha256="+hex.EncodeToString(hmacOf([]byte(next), body)))
		}
	default:
		ts := strconv.FormatInt(at.Unix(), 10)
		signed := append([]byte(id+"."+ts+"."), body...)
		var sigs []string
		for _, s := range []string{secret, next} {
			if s == "" {
				continue
			}
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil {
				panic(err) // newSecret's secrets are base64
			}
			sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(hmacOf(key, signed)))
		}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", strings.Join(sigs, " "))
	}
	return h
}

// post sends body with header straight to the receiver on port and returns the status.
func post(ctx context.Context, t *testing.T, port int, header http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://127.0.0.1:%d/webhooks/herald", port), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST to the receiver: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // only the status matters
	return resp.StatusCode
}
