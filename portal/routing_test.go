package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRoutingForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.adminKey)

	// The form shows the routing fields; a refused filter is shown on it, with the reason.
	wantPage(t, "new webhook form", b.get("/webhooks/new"), 200, `name="filter"`, `name="channels"`, `name="ordering"`, "Test against the sample")
	p := b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Bad"}, "url": {e.receiver.URL}, "scope": {"some"},
		"events": {"drift.detected"}, "filter": {"data.sevrity == 1"}})
	wantPage(t, "a misspelt field", p, http.StatusUnprocessableEntity, `role="alert"`, "data.sevrity", `aria-invalid="true"`)

	// Created with a filter, channels and key ordering; its page shows them.
	p = b.do(http.MethodPost, "/webhooks", url.Values{"name": {"Critical"}, "url": {e.receiver.URL + "/c"}, "scope": {"some"},
		"events": {"drift.detected"}, "filter": {`data.severity == "critical"`}, "channels": {"prod, eu"}, "ordering": {"key"}})
	wantPage(t, "created", p, http.StatusCreated, "whsec_")
	var hooks []struct {
		ID       string   `json:"id"`
		Filter   string   `json:"filter"`
		Channels []string `json:"channels"`
		Ordering string   `json:"ordering"`
	}
	e.api(e.adminKey, http.MethodGet, "/api/v1/webhooks", nil, &hooks, http.StatusOK)
	if len(hooks) != 1 || hooks[0].Filter != `data.severity == "critical"` || strings.Join(hooks[0].Channels, ",") != "prod,eu" || hooks[0].Ordering != "key" {
		t.Fatalf("created webhook %+v, want its filter, channels prod and eu, and key ordering", hooks)
	}
	id := hooks[0].ID
	wantPage(t, "the webhook's page", b.get("/webhooks/"+id), 200, "webhook-filter", "<code>prod</code>, <code>eu</code>", "by key: one event of a key at a time", "Replay since")
	wantPage(t, "the edit form", b.get("/webhooks/"+id+"/edit"), 200, "data.severity == &#34;critical&#34;", `value="prod, eu"`, `value="key" selected`)

	// The live check: in place with htmx, the whole form without a script.
	test := url.Values{"name": {"Critical"}, "url": {e.receiver.URL + "/c"}, "scope": {"some"}, "events": {"drift.detected"},
		"filter_type": {"drift.detected"}, "id": {id}}
	test.Set("filter", `data.severity == "critical"`)
	frag := b.do(http.MethodPost, "/webhooks/filter-test", test, "HX-Request", "true")
	wantPage(t, "matching filter", frag, 200, "Matches the sample of <code>drift.detected</code>")
	if strings.Contains(frag.body, "<html") {
		t.Error("the htmx filter test answer is a whole page, want the fragment")
	}
	test.Set("filter", `data.severity == "low"`)
	wantPage(t, "filter that does not match", b.do(http.MethodPost, "/webhooks/filter-test", test, "HX-Request", "true"), 200, "Does not match")
	test.Set("filter", `data.severity ==`)
	wantPage(t, "filter that does not compile", b.do(http.MethodPost, "/webhooks/filter-test", test), 200, "<html", "Refused", "line 1, column")

	// Replay since: the event published since is sent again; a refusal is shown on the page.
	e.api(e.adminKey, http.MethodPost, "/api/v1/events", map[string]any{"type": "drift.detected", "channels": []string{"prod"},
		"data": map[string]any{"drift_id": 1, "drift_type": "security", "severity": "critical", "resource_id": 5, "resource_name": "b",
			"resource_type": "s3_bucket", "provider_id": 1, "summary": "s", "detected_at": "2024-01-15T14:30:00Z"}}, nil, http.StatusAccepted)
	p = b.do(http.MethodPost, "/webhooks/"+id+"/replay", url.Values{"since": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "msg=replayed&n=1&s=0") {
		t.Fatalf("replay: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	wantPage(t, "after the replay", b.get(p.header.Get("Location")), 200, "1 events replayed")

	// The delivery log shows each delivery's channels and searches by one.
	wantPage(t, "the log on prod", b.get("/deliveries?channel=prod"), 200, `value="prod"`, `class="muted channels">prod<`)
	if page := b.get("/deliveries?channel=staging"); !strings.Contains(page.body, "No deliveries match.") {
		t.Errorf("the log on staging lists deliveries:\n%s", page.body)
	}
	wantPage(t, "replay without a time", b.do(http.MethodPost, "/webhooks/"+id+"/replay", url.Values{"since": {"soon"}}),
		http.StatusUnprocessableEntity, "Give the time to replay")
}
