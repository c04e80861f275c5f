package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/catalog/catalogtest"
	"github.com/heraldhq/herald/webhook"
)

// TestNotices runs a server with an operator webhook and an SMTP server: a Frugally
// endpoint that keeps failing is disabled after 10 attempts, and both the operator
// (a signed webhook.disabled) and the tenant's notify address (an email) hear of it;
// enabling it again tells the operator webhook.enabled; a standard delivery that runs
// out of retries tells the operator delivery.exhausted.
func TestNotices(t *testing.T) {
	t.Parallel()
	ops := newReceiver(t)
	opsSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("operator-secret-of-32-bytes-long"))
	sink := newSMTPSink(t, "user", "pass")
	srv := startServer(t, t.TempDir(),
		"--ops-webhook-url", ops.URL, "--ops-webhook-secret", opsSecret,
		"--smtp-url", "smtp://user:pass@"+sink.addr, "--smtp-from", "herald@example.test",
		"--retry-schedule", "10ms")
	if strings.Contains(srv.Stdout.String(), "Operator webhook secret") {
		t.Errorf("serve printed an operator secret although --ops-webhook-secret was given:\n%s", srv.Stdout)
	}
	verifier, err := webhook.NewVerifier(webhook.FormatStandard, opsSecret)
	if err != nil {
		t.Fatal(err)
	}
	// notice waits for the operator endpoint to receive a notice of type typ whose data
	// matches, checks its signature and returns its data.
	notice := func(typ string, match func(data map[string]any) bool) map[string]any {
		t.Helper()
		var found map[string]any
		ok := waitUntil(15*time.Second, func() bool {
			for _, req := range ops.requests() {
				var env struct {
					Type string         `json:"type"`
					Data map[string]any `json:"data"`
				}
				if err := json.Unmarshal(req.Body, &env); err != nil {
					t.Fatalf("operator endpoint got a body that is not JSON: %q", req.Body)
				}
				if env.Type == typ && match(env.Data) {
					if err := verifier.Verify(req.Header, req.Body); err != nil {
						t.Fatalf("%s notice: signature does not verify with the operator secret: %v", typ, err)
					}
					found = env.Data
					return true
				}
			}
			return false
		})
		if !ok {
			var got []string
			for _, req := range ops.requests() {
				got = append(got, string(req.Body))
			}
			t.Fatalf("no %s notice at the operator endpoint in 15s; it got %d requests:\n%s", typ, len(got), strings.Join(got, "\n"))
		}
		return found
	}

	var tenant struct {
		ID          string `json:"id"`
		NotifyEmail string `json:"notify_email"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{
		"name": "Acme", "notify_email": "alerts@acme.test",
	}, &tenant); code != 201 || tenant.ID == "" {
		t.Fatalf("create tenant: %d %+v", code, tenant)
	}
	failing := newReceiver(t)
	failing.setStatus(http.StatusInternalServerError)
	var wh webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "acme-costs", "url": failing.URL, "format": "frugally", "tenant_id": tenant.ID,
		"events": []string{"schedule.paused"},
	}, &wh); code != 201 {
		t.Fatalf("create frugally webhook: %d", code)
	}
	// Each delivery is tried twice (the retry schedule has one delay): the ping and five
	// events make 12 failed attempts, more than the 10 that disable a Frugally endpoint.
	for range 5 {
		if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
			"type": "schedule.paused", "tenant_id": tenant.ID, "data": catalogtest.SeedExamples(t)["schedule.paused"],
		}, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}

	disabled := notice("webhook.disabled", func(d map[string]any) bool { return d["webhook_id"] == wh.ID })
	for field, want := range map[string]any{"tenant_id": tenant.ID, "url": failing.URL, "name": "acme-costs"} {
		if disabled[field] != want {
			t.Errorf("webhook.disabled %s = %v, want %v (data %v)", field, disabled[field], want, disabled)
		}
	}
	if reason, _ := disabled["reason"].(string); !strings.Contains(reason, "10") {
		t.Errorf("webhook.disabled reason %q, want one that names the 10 failed attempts", reason)
	}
	if at, _ := disabled["disabled_at"].(string); at == "" {
		t.Errorf("webhook.disabled has no disabled_at: %v", disabled)
	}
	var got webhookResource
	if api(t, srv.URL, "GET", "/api/v1/webhooks/"+wh.ID, testAdminKey, nil, &got); got.Enabled {
		t.Fatalf("webhook %s is still enabled after the webhook.disabled notice", wh.ID)
	}

	email := sink.waitFor(t, "alerts@acme.test", "was disabled", 15*time.Second)
	if email.authUser != "user" || email.from != "herald@example.test" {
		t.Errorf("email sent as %q from %q, want authenticated as user from herald@example.test", email.authUser, email.from)
	}
	if !strings.Contains(email.subject, "acme-costs") {
		t.Errorf("email subject %q does not name the endpoint acme-costs", email.subject)
	}
	for _, want := range []string{failing.URL, wh.ID, "PATCH /api/v1/webhooks/" + wh.ID, `{"enabled": true}`} {
		if !strings.Contains(email.body, want) {
			t.Errorf("email body does not contain %q:\n%s", want, email.body)
		}
	}
	for _, secret := range []string{wh.Secret, opsSecret} {
		if strings.Contains(email.raw, secret) || strings.Contains(email.body, secret) {
			t.Errorf("email contains a secret (%.12s…)", secret)
		}
	}

	if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+wh.ID, testAdminKey, map[string]any{"enabled": true}, &got); code != 200 || !got.Enabled {
		t.Fatalf("re-enable: %d enabled=%v", code, got.Enabled)
	}
	enabled := notice("webhook.enabled", func(d map[string]any) bool { return d["webhook_id"] == wh.ID })
	if enabled["tenant_id"] != tenant.ID || enabled["enabled_at"] == nil {
		t.Errorf("webhook.enabled data %v, want tenant_id %s and enabled_at", enabled, tenant.ID)
	}
	sink.waitFor(t, "alerts@acme.test", "was enabled", 15*time.Second)

	// A standard endpoint is not disabled by failures: its delivery runs out of retries.
	// Created disabled, so no ping's failure comes first: one webhook's exhausted
	// deliveries make one notice an hour.
	flaky := newReceiver(t)
	flaky.setStatus(http.StatusInternalServerError)
	var std webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "std", "url": flaky.URL, "format": "standard", "events": []string{"budget.exceeded"}, "enabled": false,
	}, &std); code != 201 {
		t.Fatalf("create standard webhook: %d", code)
	}
	if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+std.ID, testAdminKey, map[string]any{"enabled": true}, nil); code != 200 {
		t.Fatalf("enable the standard webhook: %d", code)
	}
	var published struct {
		ID string `json:"id"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/events", testAdminKey, map[string]any{
		"type": "budget.exceeded", "data": catalogtest.SeedExamples(t)["budget.exceeded"],
	}, &published); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	exhausted := notice("delivery.exhausted", func(d map[string]any) bool { return d["event_id"] == published.ID })
	if exhausted["webhook_id"] != std.ID || exhausted["tenant_id"] != "default" || exhausted["event_type"] != "budget.exceeded" ||
		exhausted["attempts"] != float64(2) || !strings.Contains(exhausted["last_error"].(string), "500") ||
		!strings.HasPrefix(exhausted["delivery_id"].(string), "del_") || exhausted["failed_at"] == nil {
		t.Errorf("delivery.exhausted data %v, want webhook %s, tenant default, budget.exceeded, 2 attempts, a 500 and a delivery id", exhausted, std.ID)
	}

	// The operator webhook is Herald's own: no notice is ever about it.
	for _, req := range ops.requests() {
		if bytes.Contains(req.Body, []byte(`"wh_ops"`)) {
			t.Errorf("the operator endpoint got a notice about itself: %s", req.Body)
		}
	}
}

// TestNoticesGeneratedSecret starts with an operator webhook but no secret: one is
// generated and printed once, the notices verify with it, and a restart keeps it
// without printing it again.
func TestNoticesGeneratedSecret(t *testing.T) {
	t.Parallel()
	ops := newReceiver(t)
	dir := t.TempDir()
	srv := startServer(t, dir, "--ops-webhook-url", ops.URL)
	m := regexpOpsSecret.FindStringSubmatch(srv.Stdout.String())
	if m == nil {
		t.Fatalf("serve did not print the generated operator secret:\n%s", srv.Stdout)
	}
	srv.stop()
	srv = startServer(t, dir, "--ops-webhook-url", ops.URL)
	if strings.Contains(srv.Stdout.String(), "Operator webhook secret") {
		t.Errorf("restart printed the operator secret again:\n%s", srv.Stdout)
	}
	var wh webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "x", "url": ops.URL + "/other"}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	if code := api(t, srv.URL, "PATCH", "/api/v1/webhooks/"+wh.ID, testAdminKey, map[string]any{"enabled": false}, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	verifier, err := webhook.NewVerifier(webhook.FormatStandard, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !waitUntil(15*time.Second, func() bool {
		for _, req := range ops.requests() {
			if bytes.Contains(req.Body, []byte(`"webhook.disabled"`)) && bytes.Contains(req.Body, []byte(wh.ID)) {
				if err := verifier.Verify(req.Header, req.Body); err != nil {
					t.Fatalf("notice does not verify with the printed secret: %v", err)
				}
				if !bytes.Contains(req.Body, []byte(`"disabled through the API"`)) {
					t.Errorf("webhook.disabled through the API: %s, want reason \"disabled through the API\"", req.Body)
				}
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no webhook.disabled notice for %s at the operator endpoint", wh.ID)
	}
}

var regexpOpsSecret = regexp.MustCompile(`Operator webhook secret \(shown once, keep it safe\): (whsec_\S+)`)

// sentEmail is one message the SMTP sink accepted.
type sentEmail struct {
	authUser string
	from     string
	to       []string
	raw      string
	subject  string
	body     string // decoded
}

// smtpSink is a tiny SMTP server on loopback that requires AUTH PLAIN with one user
// and records every message.
type smtpSink struct {
	addr       string
	user, pass string
	mu         sync.Mutex
	got        []sentEmail
}

func newSMTPSink(t *testing.T, user, pass string) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{addr: ln.Addr().String(), user: user, pass: pass}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			wg.Go(func() { s.serve(t, conn) })
		}
	})
	return s
}

// serve speaks enough SMTP for net/smtp: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
func (s *smtpSink) serve(t *testing.T, conn net.Conn) {
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Errorf("smtp sink: %v", err)
		return
	}
	c := textproto.NewConn(conn)
	reply := func(format string, args ...any) bool { return c.PrintfLine(format, args...) == nil }
	if !reply("220 sink.test ESMTP") {
		return
	}
	var msg sentEmail
	for {
		line, err := c.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-sink.test")
			reply("250 AUTH PLAIN")
		case "HELO", "NOOP", "RSET":
			reply("250 ok")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if mech != "PLAIN" || err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 bad credentials")
				continue
			}
			msg.authUser = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if msg.authUser == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			msg.from = strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>")
			reply("250 ok")
		case "RCPT":
			msg.to = append(msg.to, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			reply("250 ok")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := c.ReadDotBytes()
			if err != nil {
				return
			}
			msg.raw = string(data)
			msg.subject, msg.body = decodeEmail(t, data)
			s.mu.Lock()
			s.got = append(s.got, msg)
			s.mu.Unlock()
			msg = sentEmail{authUser: msg.authUser}
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 5.5.2 not implemented")
		}
	}
}

// decodeEmail returns a message's decoded subject and body.
func decodeEmail(t *testing.T, data []byte) (subject, body string) {
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Errorf("smtp sink: message does not parse: %v\n%s", err, data)
		return "", ""
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Errorf("smtp sink: subject: %v", err)
	}
	var r io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("smtp sink: body: %v", err)
	}
	return subject, string(b)
}

// waitFor waits for a message to rcpt whose subject contains subject.
func (s *smtpSink) waitFor(t *testing.T, rcpt, subject string, timeout time.Duration) sentEmail {
	t.Helper()
	var found sentEmail
	if !waitUntil(timeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.got {
			if len(m.to) == 1 && m.to[0] == rcpt && strings.Contains(m.subject, subject) {
				found = m
				return true
			}
		}
		return false
	}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var subjects []string
		for _, m := range s.got {
			subjects = append(subjects, strings.Join(m.to, ",")+": "+m.subject)
		}
		t.Fatalf("no email to %s about %q in %s; the sink got %d:\n%s", rcpt, subject, timeout, len(s.got), strings.Join(subjects, "\n"))
	}
	return found
}
