package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog/catalogtest"
)

// cli runs a herald command in-process against srv the way a shell with HERALD_SERVER
// and HERALD_API_KEY set to srv's URL and key would.
func cli(t *testing.T, srv *testServer, key string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return cliEnv(t, map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": key}, args...)
}

// cliEnv runs a herald command in-process with env as its environment.
func cliEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return out.String(), errOut.String(), err
}

// mustCLI is cli for a command that must succeed; it returns its stdout.
func mustCLI(t *testing.T, srv *testServer, key string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, srv, key, args...)
	if err != nil {
		t.Fatalf("herald %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// cliJSON runs a command that must succeed with -o json and decodes its stdout into out.
func cliJSON(t *testing.T, srv *testServer, key string, out any, args ...string) {
	t.Helper()
	stdout := mustCLI(t, srv, key, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("herald %s -o json: not JSON: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// field returns the value of the NAME value line of a table output.
func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` {2,}(.*?)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in:\n%s", name, out)
	}
	return m[1]
}

// clientWebhook is the part of the webhook resource the client tests read.
type clientWebhook struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	URL         string            `json:"url"`
	Events      []string          `json:"events"`
	Enabled     bool              `json:"enabled"`
	Headers     map[string]string `json:"headers"`
}

// TestClientWebhookLifecycle drives one webhook through every `herald webhooks` and
// `herald deliveries` command against a real server and receiver.
func TestClientWebhookLifecycle(t *testing.T) {
	t.Parallel()
	// No retry comes on its own during the test: a failed ping stays pending.
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)

	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "orders",
		"--events", "drift.detected,alert.created", "--description", "keep me", "--header", "X-Team: core")
	id, secret := field(t, out, "ID"), field(t, out, "SECRET")
	if !strings.HasPrefix(id, "wh_") || !strings.HasPrefix(secret, "whsec_") ||
		!contains(out, "'herald webhooks reveal-secret "+id+"' shows it again") || contains(out, "only this once") {
		t.Fatalf("create: want a wh_ id, a whsec_ secret and how to see it again:\n%s", out)
	}
	if out := mustCLI(t, srv, testAdminKey, "webhooks", "reveal-secret", id); field(t, out, "SECRET") != secret || contains(out, "PREVIOUS SECRET") {
		t.Errorf("reveal-secret after create: want the secret printed at creation and no previous one:\n%s", out)
	}
	if ping := field(t, out, "PING"); !regexp.MustCompile(`^delivered: HTTP 200 in \S+$`).MatchString(ping) {
		t.Errorf("create: the ping's outcome reads %q, want delivered with its status", ping)
	}

	out = mustCLI(t, srv, testAdminKey, "webhooks", "list")
	if !regexp.MustCompile(`(?m)^`+id+`\s+orders\s+standard\s+true\s+`+regexp.QuoteMeta(rc.URL)+`\s+drift.detected,alert.created\s`).MatchString(out) ||
		!contains(out, "LAST DELIVERY") {
		t.Errorf("list table lacks the webhook's row or the header:\n%s", out)
	}
	var list []clientWebhook
	cliJSON(t, srv, testAdminKey, &list, "webhooks", "list")
	if len(list) != 1 || list[0].ID != id || list[0].Name != "orders" {
		t.Errorf("list -o json: %+v, want the one webhook %s", list, id)
	}

	out = mustCLI(t, srv, testAdminKey, "webhooks", "get", id)
	if field(t, out, "DESCRIPTION") != "keep me" || field(t, out, "HEADERS") != "X-Team: core" {
		t.Errorf("get:\n%s", out)
	}

	// Flags after the ID, and --enabled with a separate value, as the usage shows them.
	mustCLI(t, srv, testAdminKey, "webhooks", "update", id, "--name", "renamed", "--enabled", "false")
	var got clientWebhook
	cliJSON(t, srv, testAdminKey, &got, "webhooks", "get", id)
	if got.Name != "renamed" || got.Enabled {
		t.Errorf("after update: name %q enabled %t, want renamed and disabled", got.Name, got.Enabled)
	}
	if got.Description != "keep me" || got.URL != rc.URL || !slices.Equal(got.Events, []string{"drift.detected", "alert.created"}) ||
		got.Headers["X-Team"] != "core" {
		t.Errorf("update changed fields it was not given: %+v", got)
	}
	if _, _, err := cli(t, srv, testAdminKey, "webhooks", "update", id); err == nil || !contains(err.Error(), "nothing to change") {
		t.Errorf("update without fields: %v, want 'nothing to change'", err)
	}
	mustCLI(t, srv, testAdminKey, "webhooks", "update", "--enabled=true", id)

	out = mustCLI(t, srv, testAdminKey, "webhooks", "test", id)
	if field(t, out, "SUCCESS") != "true" || field(t, out, "STATUS CODE") != "200" || !strings.HasPrefix(field(t, out, "DELIVERY"), "del_") {
		t.Errorf("test against a 200 receiver:\n%s", out)
	}
	// A test of a subscribed type sends its sample, to this webhook.
	out = mustCLI(t, srv, testAdminKey, "webhooks", "test", id, "--type", "drift.detected")
	if field(t, out, "SUCCESS") != "true" {
		t.Errorf("test --type drift.detected against a 200 receiver:\n%s", out)
	}
	sent := rc.requests()
	var sample struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(sent[len(sent)-1].Body, &sample); err != nil || sample.Type != "drift.detected" {
		t.Errorf("test --type drift.detected: the receiver last got %s, want the drift.detected sample", sent[len(sent)-1].Body)
	}
	if _, _, err := cli(t, srv, testAdminKey, "webhooks", "test", id, "--type", "budget.exceeded"); err == nil || !contains(err.Error(), "does not subscribe to budget.exceeded") {
		t.Errorf("test --type of a type it does not subscribe to: %v, want the API's event_type error", err)
	}
	rc.setStatus(http.StatusInternalServerError)
	out, _, err := cli(t, srv, testAdminKey, "webhooks", "test", id)
	if err == nil || field(t, out, "SUCCESS") != "false" || field(t, out, "STATUS CODE") != "500" {
		t.Errorf("test against a 500 receiver: error %v, want one, and:\n%s", err, out)
	}
	failedPing := field(t, out, "DELIVERY")
	rc.setStatus(http.StatusOK)

	out = mustCLI(t, srv, testAdminKey, "webhooks", "deliveries", id, "--status", "success")
	if !regexp.MustCompile(`DELIVERY\s+EVENT TYPE\s+STATUS\s+ATTEMPTS\s+LAST STATUS CODE\s+CREATED\s+NEXT ATTEMPT\s+LAST ERROR`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^del_\S+\s+ping\s+success\s+1\s+200\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-\s+-$`).MatchString(out) {
		t.Errorf("deliveries table lacks the header or a successful ping in RFC 3339 UTC:\n%s", out)
	}
	var ds []deliveryResource
	cliJSON(t, srv, testAdminKey, &ds, "webhooks", "deliveries", id, "--status", "pending")
	if len(ds) != 1 || ds[0].ID != failedPing || len(ds[0].Attempts) != 1 {
		t.Fatalf("deliveries --status pending -o json: %+v, want the failed ping %s waiting for its retry", ds, failedPing)
	}

	out = mustCLI(t, srv, testAdminKey, "deliveries", "get", ds[0].ID)
	if field(t, out, "ID") != ds[0].ID || field(t, out, "WEBHOOK") != id ||
		!regexp.MustCompile(`(?m)^1\s+\S+Z\s+500\s+\S+\s+`).MatchString(out) {
		t.Errorf("deliveries get: want the delivery and its attempt 1 with status 500:\n%s", out)
	}
	var retried deliveryResource
	cliJSON(t, srv, testAdminKey, &retried, "deliveries", "retry", ds[0].ID)
	if retried.Status != "success" || len(retried.Attempts) != 2 || retried.Attempts[1].StatusCode != 200 {
		t.Errorf("retry: %+v, want success with a second attempt answered 200", retried)
	}

	var rotated struct {
		Secret string `json:"secret"`
	}
	cliJSON(t, srv, testAdminKey, &rotated, "webhooks", "rotate-secret", id, "--grace", "1h")
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == secret {
		t.Errorf("rotate-secret: new secret %q, want a whsec_ secret other than %q", rotated.Secret, secret)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "reveal-secret", id)
	if field(t, out, "SECRET") != rotated.Secret || field(t, out, "PREVIOUS SECRET") != secret ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(field(t, out, "PREVIOUS SIGNS UNTIL")) {
		t.Errorf("reveal-secret during a 1h grace: want the new secret, the old one and when it stops:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "rotate-secret", id, "--grace", "0s", "--secret", "whsec_"+strings.Repeat("A", 32))
	if field(t, out, "SECRET") != "whsec_"+strings.Repeat("A", 32) || !contains(out, "'herald webhooks reveal-secret "+id+"' shows it again") ||
		contains(out, "only this once") {
		t.Errorf("rotate-secret --secret:\n%s", out)
	}
	var revealed struct {
		Secret         string `json:"secret"`
		PreviousSecret string `json:"previous_secret"`
	}
	cliJSON(t, srv, testAdminKey, &revealed, "webhooks", "reveal-secret", id)
	if revealed.Secret != "whsec_"+strings.Repeat("A", 32) || revealed.PreviousSecret != "" {
		t.Errorf("reveal-secret -o json after a rotation without grace: %+v, want only the new secret", revealed)
	}

	if out := mustCLI(t, srv, testAdminKey, "webhooks", "delete", id); !contains(out, "Deleted webhook "+id) {
		t.Errorf("delete: %q", out)
	}
	_, _, err = cli(t, srv, testAdminKey, "webhooks", "get", id)
	if want := `404 NOT_FOUND: webhook "` + id + `" not found`; err == nil || err.Error() != want {
		t.Errorf("get after delete: error %v, want %q", err, want)
	}
}

// TestClientEventsPublish publishes with data from a file and from stdin, and repeats by
// id and by idempotency key, which are reported as duplicates. It replaces stdin, so
// it does not run in parallel.
func TestClientEventsPublish(t *testing.T) {
	srv := startServer(t, t.TempDir())
	rc := newReceiver(t)
	var wh webhookResource
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "drift", "url": rc.URL, "events": []string{"drift.detected"},
	}, &wh); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	data := catalogtest.SeedExamples(t)["drift.detected"]
	file := filepath.Join(t.TempDir(), "drift.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"drift_id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := stdin
	t.Cleanup(func() { stdin = saved })

	publish := []string{"events", "publish", "--type", "drift.detected"}
	for _, tc := range []struct {
		name      string
		args      []string
		stdin     string
		duplicate bool
		eventID   string // "" for any new evt_ id
	}{
		{name: "data from a file", args: []string{"--data", file}},
		{name: "data from stdin", args: []string{"--data", "-"}, stdin: string(data)},
		{name: "first with an id", args: []string{"--data", file, "--id", "cli-evt-1"}, eventID: "cli-evt-1"},
		{name: "same id again", args: []string{"--data", "-", "--id", "cli-evt-1"}, stdin: string(data), duplicate: true, eventID: "cli-evt-1"},
		{name: "first with a key", args: []string{"--data", file, "--idempotency-key", "cli-key-1"}},
		{name: "same key again", args: []string{"--data", file, "--idempotency-key", "cli-key-1"}, duplicate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdin = strings.NewReader(tc.stdin)
			out := mustCLI(t, srv, testAdminKey, append(publish, tc.args...)...)
			id := field(t, out, "EVENT")
			if tc.eventID != "" && id != tc.eventID || tc.eventID == "" && !strings.HasPrefix(id, "evt_") {
				t.Errorf("event id %q, want %q (or a new evt_ id)", id, tc.eventID)
			}
			if n := field(t, out, "DELIVERIES"); n != "1" {
				t.Errorf("deliveries %s, want 1", n)
			}
			if got := field(t, out, "DUPLICATE"); strings.HasPrefix(got, "yes") != tc.duplicate {
				t.Errorf("DUPLICATE %q, want duplicate %t", got, tc.duplicate)
			}
		})
	}
	// One ping and four events, with nothing sent twice.
	if got := len(rc.waitFor(t, 5, 10*time.Second)); got != 5 {
		t.Errorf("receiver got %d requests, want 5", got)
	}

	stdin = strings.NewReader(string(data))
	stdout, stderr, err := cli(t, srv, testAdminKey, append(publish, "--data", "-", "--id", "cli-evt-1", "-o", "json")...)
	var res struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	if err != nil || json.Unmarshal([]byte(stdout), &res) != nil || res.ID != "cli-evt-1" || !contains(stderr, "duplicate") {
		t.Errorf("duplicate with -o json: %v, stdout %q (want the API's JSON), stderr %q (want the duplicate notice)", err, stdout, stderr)
	}

	out := mustCLI(t, srv, testAdminKey, "events", "get", "cli-evt-1")
	if field(t, out, "TYPE") != "drift.detected" || !regexp.MustCompile(`(?m)^del_\S+\s+`+wh.ID+`\s+drift.detected\s`).MatchString(out) {
		t.Errorf("events get: want the event and its delivery to %s:\n%s", wh.ID, out)
	}
	var ev struct {
		Data json.RawMessage `json:"data"`
	}
	cliJSON(t, srv, testAdminKey, &ev, "events", "get", "cli-evt-1")
	if !jsonEqual(t, ev.Data, data) {
		t.Errorf("events get -o json: data %s, want %s", ev.Data, data)
	}

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"data not JSON": {[]string{"--data", bad}, "not valid JSON"},
		"no data":       {nil, "--type and --data are required"},
		"no such file":  {[]string{"--data", filepath.Join(t.TempDir(), "missing.json")}, "read --data"},
		"data refused":  {[]string{"--data", "-"}, "422 VALIDATION_FAILED"},
	} {
		stdin = strings.NewReader(`{"drift_id":"not a number"}`)
		if _, _, err := cli(t, srv, testAdminKey, append(publish, tc.args...)...); err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}

// TestClientTriggerAndEventTypes triggers drift.detected: the subscribed receiver gets
// the catalog's sample as the event's data. An unknown type says how to list the types.
func TestClientTriggerAndEventTypes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	rc := newReceiver(t)
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{
		"name": "drift", "url": rc.URL, "events": []string{"drift.detected"},
	}, nil); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	rc.waitFor(t, 1, 10*time.Second) // the ping

	var catalog []struct {
		Type   string          `json:"type"`
		Sample json.RawMessage `json:"sample"`
	}
	if code := api(t, srv.URL, "GET", "/api/v1/event-types", testAdminKey, nil, &catalog); code != 200 {
		t.Fatalf("event types: %d", code)
	}
	var sample json.RawMessage
	for _, et := range catalog {
		if et.Type == "drift.detected" {
			sample = et.Sample
		}
	}
	if len(sample) == 0 {
		t.Fatal("the catalog has no sample for drift.detected")
	}

	out := mustCLI(t, srv, testAdminKey, "event-types", "list")
	if !regexp.MustCompile(`(?m)^TYPE\s+DESCRIPTION$`).MatchString(out) ||
		len(regexp.MustCompile(`(?m)^[a-z_.]+\s{2,}\S`).FindAllString(out, -1)) != len(catalog) {
		t.Errorf("event-types list: want a header and one row per type (%d):\n%s", len(catalog), out)
	}

	out = mustCLI(t, srv, testAdminKey, "trigger", "drift.detected")
	if !strings.HasPrefix(field(t, out, "EVENT"), "evt_") || field(t, out, "DELIVERIES") != "1" {
		t.Errorf("trigger: want an evt_ id and 1 delivery:\n%s", out)
	}
	got := rc.waitFor(t, 2, 10*time.Second)[1]
	var body struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("delivered body: %v: %s", err, got.Body)
	}
	if body.Type != "drift.detected" || !jsonEqual(t, body.Data, sample) {
		t.Errorf("delivered %s with data %s, want drift.detected with the catalog sample %s", body.Type, body.Data, sample)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown type", []string{"trigger", "no.such.type"}, `unknown event type "no.such.type": run 'herald event-types list' to see the types`},
		{"no type", []string{"trigger"}, "missing TYPE"},
		{"wrong key", []string{"trigger", "drift.detected", "--api-key", "hk_not_a_key"}, "401 UNAUTHORIZED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := cli(t, srv, testAdminKey, tc.args...)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestClientConfig checks where the server and key come from: the flag wins over the
// environment, a missing key is a clear error, and no other flag is read from HERALD_*.
func TestClientConfig(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	if code := api(t, srv.URL, "POST", "/api/v1/webhooks", testAdminKey, map[string]any{"name": "w", "url": "http://127.0.0.1:9/"}, nil); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	unreachable := "http://127.0.0.1:1"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // "" for success
	}{
		{"environment", map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": testAdminKey}, nil, ""},
		{"flags win over the environment", map[string]string{"HERALD_SERVER": unreachable, "HERALD_API_KEY": "hk_wrong"},
			[]string{"--server", srv.URL, "--api-key", testAdminKey}, ""},
		{"flags alone", nil, []string{"--server", srv.URL + "/", "--api-key", testAdminKey}, ""},
		{"other flags not from the environment", map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": testAdminKey, "HERALD_TENANT": "nobody", "HERALD_O": "yaml"}, nil, ""},
		{"missing key", map[string]string{"HERALD_SERVER": srv.URL}, nil, "no API key: pass --api-key or set HERALD_API_KEY"},
		{"wrong key", map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": "hk_wrong"}, nil, "401 UNAUTHORIZED: "},
		{"server down", map[string]string{"HERALD_SERVER": unreachable, "HERALD_API_KEY": testAdminKey}, nil, "is the server running there?"},
		{"server not a URL", map[string]string{"HERALD_API_KEY": testAdminKey}, []string{"--server", "127.0.0.1:8080"}, "want an http or https URL"},
		{"unknown output", map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": testAdminKey}, []string{"-o", "yaml"}, `-o "yaml": want table or json`},
		{"unknown flag", map[string]string{"HERALD_SERVER": srv.URL, "HERALD_API_KEY": testAdminKey}, []string{"--bogus"}, "flag provided but not defined: -bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := cliEnv(t, tc.env, append([]string{"webhooks", "list"}, tc.args...)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr == "" && !contains(out, "http://127.0.0.1:9/"):
				t.Errorf("list does not show the webhook:\n%s", out)
			case tc.wantErr != "" && (err == nil || !contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestClientTenantKeySeesOwnWebhooksOnly gives a tenant's key to the client: the default
// tenant's webhook is a 404 to it, and its list holds its own webhook only.
func TestClientTenantKeySeesOwnWebhooksOnly(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	rc := newReceiver(t)
	adminHook := field(t, mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "admin's"), "ID")
	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if code := api(t, srv.URL, "POST", "/api/v1/tenants", testAdminKey, map[string]any{"name": "Acme"}, &tenant); code != 201 || tenant.APIKey == "" {
		t.Fatalf("create tenant: %d", code)
	}
	ownHook := field(t, mustCLI(t, srv, tenant.APIKey, "webhooks", "create", "--url", rc.URL, "--name", "acme's"), "ID")

	for _, args := range [][]string{
		{"webhooks", "get", adminHook},
		{"webhooks", "update", adminHook, "--name", "taken"},
		{"webhooks", "delete", adminHook},
		{"webhooks", "deliveries", adminHook},
	} {
		_, _, err := cli(t, srv, tenant.APIKey, args...)
		if want := `404 NOT_FOUND: webhook "` + adminHook + `" not found`; err == nil || err.Error() != want {
			t.Errorf("tenant key, %s: error %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	var list []clientWebhook
	cliJSON(t, srv, tenant.APIKey, &list, "webhooks", "list")
	if len(list) != 1 || list[0].ID != ownHook {
		t.Errorf("tenant's list: %+v, want only its own webhook %s", list, ownHook)
	}
	if _, _, err := cli(t, srv, tenant.APIKey, "trigger", "drift.detected"); err == nil || !contains(err.Error(), "403 FORBIDDEN") {
		t.Errorf("tenant key triggering: error %v, want 403 FORBIDDEN", err)
	}
	if out := mustCLI(t, srv, testAdminKey, "webhooks", "get", adminHook); field(t, out, "NAME") != "admin's" {
		t.Errorf("the admin's webhook changed:\n%s", out)
	}
}

// TestClientErrorsAreTheServers: a refused command fails with the *herald.Error the
// server answered, its code and message as the server wrote them, after the status; an
// answer that is not Herald's (a proxy's page) names its status and shows its start.
func TestClientErrorsAreTheServers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	_, _, err := cli(t, srv, testAdminKey, "webhooks", "get", "wh_nope")
	var he *herald.Error
	if !errors.As(err, &he) || he.Code != herald.ENOTFOUND || he.Message != `webhook "wh_nope" not found` {
		t.Errorf("get of an unknown webhook: %#v, want the server's NOT_FOUND with its message", err)
	}
	if want := `404 NOT_FOUND: webhook "wh_nope" not found`; err == nil || err.Error() != want {
		t.Errorf("get of an unknown webhook: error %v, want %q", err, want)
	}
	_, _, err = cli(t, srv, testAdminKey, "webhooks", "create", "--url", "ftp://example.com/", "--name", "w")
	if want := "422 VALIDATION_FAILED: url must be an absolute http or https URL, or a broker URL: nats://, amqp://, redis:// or kafka://"; herald.ErrorCode(err) != herald.EINVALID || err.Error() != want {
		t.Errorf("create with an ftp URL: error %v, want the server's %q, its details (url) not repeated", err, want)
	}

	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>no upstream</body></html>\n"))
	}))
	t.Cleanup(proxy.Close)
	_, _, err = cliEnv(t, map[string]string{"HERALD_SERVER": proxy.URL, "HERALD_API_KEY": testAdminKey}, "webhooks", "list")
	if want := "502 INTERNAL: the server answered 502 Bad Gateway: <html><body>no upstream</body></html>"; err == nil || err.Error() != want {
		t.Errorf("behind a failing proxy: error %v, want %q", err, want)
	}
}

// TestClientHelp checks that every client command answers -h with its usage on stdout,
// needing no server or key, and that the top-level help lists the commands.
func TestClientHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "herald webhooks COMMAND"},
		{[]string{"webhooks", "-h"}, "herald webhooks rotate-secret ID [--grace 24h] [--secret S]"},
		{[]string{"tenants", "-h"}, "herald tenants rotate-key ID [--grace 1h]"},
		{[]string{"tenants", "rotate-key", "-h"}, "Usage: herald tenants rotate-key ID"},
		{[]string{"webhooks", "list", "-h"}, "Usage: herald webhooks list [--tenant T] [--page N] [--per-page N]"},
		{[]string{"webhooks", "create", "-h"}, "Usage: herald webhooks create --url U --name N"},
		{[]string{"webhooks", "get", "-h"}, "Usage: herald webhooks get ID"},
		{[]string{"webhooks", "update", "-h"}, "Usage: herald webhooks update ID [--url U]"},
		{[]string{"webhooks", "delete", "-h"}, "Usage: herald webhooks delete ID"},
		{[]string{"webhooks", "test", "-h"}, "Usage: herald webhooks test ID"},
		{[]string{"webhooks", "rotate-secret", "-h"}, "Usage: herald webhooks rotate-secret ID"},
		{[]string{"webhooks", "deliveries", "-h"}, "Usage: herald webhooks deliveries ID"},
		{[]string{"deliveries", "get", "-h"}, "Usage: herald deliveries get ID"},
		{[]string{"deliveries", "retry", "--help"}, "Usage: herald deliveries retry ID"},
		{[]string{"deliveries", "skip", "--help"}, "Usage: herald deliveries skip ID"},
		{[]string{"events", "publish", "-h"}, "Usage: herald events publish --type T --data FILE|-"},
		{[]string{"events", "get", "-h"}, "Usage: herald events get ID"},
		{[]string{"event-types", "list", "-h"}, "Usage: herald event-types list"},
		{[]string{"trigger", "-h"}, "Usage: herald trigger TYPE [--tenant T] [--data FILE|-]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			out, _, err := cliEnv(t, nil, tc.args...)
			if err != nil || !contains(out, tc.want) {
				t.Errorf("error %v, stdout:\n%s\nwant no error and %q", err, out, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"webhooks"}, {"webhooks", "frobnicate"}, {"events", "list"}} {
		if _, stderr, err := cliEnv(t, nil, args...); err == nil || !contains(stderr, "Usage: herald "+args[0]) {
			t.Errorf("%q: error %v, stderr %q; want an error and the usage on stderr", args, err, stderr)
		}
	}
}

// TestClientEd25519Webhook creates an ed25519 webhook from the command line: it shows
// the public key, never a secret, and rotating gives a new public key.
func TestClientEd25519Webhook(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir())
	rc := newReceiver(t)
	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "ed", "--signing", "ed25519")
	id, public := field(t, out, "ID"), field(t, out, "PUBLIC KEY")
	if field(t, out, "SIGNING") != "ed25519" || !strings.HasPrefix(public, "whpk_") || contains(out, "SECRET") || contains(out, "whsk_") {
		t.Fatalf("create --signing ed25519: want the signing, a whpk_ key and no secret:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "rotate-secret", id)
	if rotated := field(t, out, "PUBLIC KEY"); !strings.HasPrefix(rotated, "whpk_") || rotated == public || contains(out, "SECRET") {
		t.Errorf("rotate-secret of an ed25519 webhook: want a new public key and no secret:\n%s", out)
	}
}

// TestClientShowsFailingEndpoint: against an endpoint that answers 500, `webhooks
// create` says the ping failed and when it is retried, and `webhooks deliveries` and
// `webhooks get` show the retry, its next attempt and the last error.
func TestClientShowsFailingEndpoint(t *testing.T) {
	t.Parallel()
	srv := startServer(t, t.TempDir(), "--retry-schedule", "1h")
	rc := newReceiver(t)
	rc.setStatus(http.StatusInternalServerError)

	out := mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "broken")
	id := field(t, out, "ID")
	if ping := field(t, out, "PING"); !regexp.MustCompile(`^failed: endpoint answered 500 Internal Server Error; next attempt \d{4}-\S+Z$`).MatchString(ping) {
		t.Errorf("create: the ping's outcome reads %q, want failed with the error and the next attempt", ping)
	}
	if !contains(out, "did not accept the ping") {
		t.Errorf("create: no word on what to do about the failed ping:\n%s", out)
	}

	out = mustCLI(t, srv, testAdminKey, "webhooks", "deliveries", id, "--status", "retrying")
	if !regexp.MustCompile(`(?m)^del_\S+\s+ping\s+retrying\s+1\s+500\s+\S+Z\s+\S+Z\s+endpoint answered 500 Internal Server Error$`).MatchString(out) {
		t.Errorf("deliveries --status retrying: want the ping retrying, with its next attempt and last error:\n%s", out)
	}
	out = mustCLI(t, srv, testAdminKey, "webhooks", "get", id)
	if !strings.HasPrefix(field(t, out, "HEALTH"), "failing: 1 failed in a row since ") ||
		field(t, out, "LAST ERROR") != "endpoint answered 500 Internal Server Error" {
		t.Errorf("get: want the webhook failing with its last error:\n%s", out)
	}

	// Without waiting, create says nothing of the ping.
	out = mustCLI(t, srv, testAdminKey, "webhooks", "create", "--url", rc.URL, "--name", "unwatched", "--wait", "0")
	if contains(out, "PING") {
		t.Errorf("create --wait 0 reports a ping:\n%s", out)
	}
}
