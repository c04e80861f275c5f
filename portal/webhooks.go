package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/receivercode"
)

// webhook is the API's webhook resource, with the secret it shows once at creation.
type webhook struct {
	herald.Webhook
	SigningMode string        `json:"signing"`
	PublicKey   string        `json:"public_key"`
	Secret      string        `json:"secret"`
	Health      herald.Health `json:"health"`
	// Auth shadows the embedded webhook's (never in JSON): the API shows it without secrets.
	Auth *herald.PublicAuth `json:"auth"`
}

// eventType is one entry of the API's catalog.
type eventType = herald.EventType

// flashes are the messages a redirect after a form may ask a page to show; a page shows
// only these, never text taken from the address.
var flashes = map[string]string{
	"saved":    "Changes saved.",
	"enabled":  "Webhook enabled.",
	"disabled": "Webhook disabled: events are no longer queued for it.",
	"deleted":  "Webhook deleted.",
	"retried":  "A new attempt was made: it is the first one below.",
	"sample":   "The sample was queued for the webhook: its delivery is below.",
	"skipped":  "The delivery was skipped: its ordering key goes on with the next one.",
}

func flash(r *http.Request) string {
	q := r.URL.Query()
	if q.Get("msg") == "replayed" {
		n, _ := strconv.Atoi(q.Get("n")) // not a number shows as 0
		skipped, _ := strconv.Atoi(q.Get("s"))
		return fmt.Sprintf("%d events replayed; %d skipped (their data was removed by retention).", n, skipped)
	}
	if q.Get("msg") == "requeued" {
		n, _ := strconv.Atoi(q.Get("n")) // not a number shows as 0
		return fmt.Sprintf("%d failed deliveries queued again.", n)
	}
	return flashes[q.Get("msg")]
}

// tenantFilter is the tenant an admin's page is filtered to ("" for all); a tenant
// key's pages are its own tenant's whatever the address says, and the API enforces it.
func tenantFilter(r *http.Request, v *viewer) string {
	if !v.Admin {
		return ""
	}
	return r.URL.Query().Get("tenant_id")
}

type webhookRow struct {
	webhook
	// Outcomes are the last 24 hours' deliveries that were tried; a delivery retrying
	// after a failed attempt counts as not succeeded.
	Outcomes herald.DeliveryOutcomes
}

type webhooksData struct {
	Rows     []webhookRow
	Tenant   string
	Flash    string
	Page     int
	Total    int
	PrevURL  string
	NextURL  string
	Empty    bool
	Filtered bool
}

const perPage = 20

func (p *portal) webhooksPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	pageNo := pageParam(r)
	// The endpoints to fix come first, on every page, so none hides on page two.
	q := url.Values{"page": {strconv.Itoa(pageNo)}, "per_page": {strconv.Itoa(perPage)}, "failing_first": {"true"}}
	tenant := tenantFilter(r, v)
	if tenant != "" {
		q.Set("tenant_id", tenant)
	}
	var hooks []webhook
	h, err := p.call(r, v, http.MethodGet, "/api/v1/webhooks", q, nil, &hooks)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	d := webhooksData{Tenant: tenant, Flash: flash(r), Page: pageNo, Total: totalCount(h), Filtered: tenant != ""}
	d.Empty = len(hooks) == 0
	// The success rates come from one store query for the page, not two API calls per
	// webhook. The ids are those the API just listed for this key; the query is scoped
	// to the tenant as well, as a second fence.
	var outcomes map[string]herald.DeliveryOutcomes
	if len(hooks) > 0 {
		f := herald.OutcomesFilter{Since: p.now().Add(-24 * time.Hour)}
		if !v.Admin {
			if v.Tenant == nil {
				p.renderError(w, r, v, http.StatusForbidden, "This key may not see webhooks.")
				return
			}
			f.TenantID = v.Tenant.ID
		}
		for _, wh := range hooks {
			f.WebhookIDs = append(f.WebhookIDs, wh.ID)
		}
		ctx, cancel := context.WithTimeout(r.Context(), statsTimeout)
		outcomes, err = p.store.DeliveryOutcomes(ctx, f)
		cancel()
		if err != nil {
			p.renderAPIError(w, r, v, err)
			return
		}
	}
	for _, wh := range hooks {
		d.Rows = append(d.Rows, webhookRow{webhook: wh, Outcomes: outcomes[wh.ID]})
	}
	d.PrevURL, d.NextURL = pageLinks(r, pageNo, perPage, d.Total)
	p.render(w, r, http.StatusOK, "webhooks", v, "Webhooks", d)
}

// graceHours are the grace periods the rotate form offers, in hours; no other is
// accepted, so a crafted form cannot keep an old secret signing for years.
var graceHours = []int{0, 1, 24, 72, 168}

// maxPage bounds the page asked for: far past any real log (a hundred million rows at
// the API's largest page size), and small enough that page × per page cannot overflow.
const maxPage = 1_000_000

// pageParam is the page asked for, from 1 to maxPage: a number too large for an int
// is the last page there can be too.
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return maxPage
	}
	if err != nil || n < 1 {
		return 1
	}
	return min(n, maxPage)
}

// pageLinks returns the addresses of the pages before and after page ("" for none),
// keeping the other query parameters.
func pageLinks(r *http.Request, page, per, total int) (prev, next string) {
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Del("msg")
		q.Del("n")
		return r.URL.Path + "?" + q.Encode()
	}
	if page > 1 {
		prev = link(page - 1)
	}
	// page < ceil(total/per), written without multiplying, which could overflow.
	if per > 0 && total > 0 && page <= (total-1)/per {
		next = link(page + 1)
	}
	return prev, next
}

// webhookForm is the create and edit form's values and the error to show with them.
type webhookForm struct {
	ID          string // "" when creating
	Name        string
	URL         string
	Description string
	Format      string
	AllEvents   bool
	Events      []string
	RateLimit   string
	Headers     string
	TenantID    string
	Signing     string
	Auth        authForm
	// Filter, Channels (comma-separated) and Ordering route events to it.
	Filter   string
	Channels string
	Ordering string
	// FilterTest is the outcome of testing the filter against a sample, when asked.
	FilterTest *filterTestView
	Types      []eventType
	Formats    []herald.Format
	Error      string
	ErrorField string
}

func (p *portal) catalog(r *http.Request, v *viewer) ([]eventType, error) {
	var types []eventType
	_, err := p.call(r, v, http.MethodGet, "/api/v1/event-types", nil, nil, &types)
	return types, err
}

func (p *portal) renderForm(w http.ResponseWriter, r *http.Request, v *viewer, status int, f *webhookForm) {
	types, err := p.catalog(r, v)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	f.Types, f.Formats = types, herald.Formats
	title := "New webhook"
	if f.ID != "" {
		title = "Edit " + f.Name
	}
	p.render(w, r, status, "webhook_form", v, title, f)
}

func (p *portal) newWebhookPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.renderForm(w, r, v, http.StatusOK, &webhookForm{AllEvents: true, TenantID: herald.DefaultTenantID})
}

func (p *portal) editWebhookPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	wh, err := p.getWebhook(r, v, r.PathValue("id"))
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	f := &webhookForm{
		ID: wh.ID, Name: wh.Name, URL: wh.URL, Description: wh.Description, Format: string(wh.Format),
		AllEvents: len(wh.Events) == 0 || slices.Contains(wh.Events, "*"), Events: wh.Events,
		RateLimit: strconv.Itoa(wh.RateLimit), TenantID: wh.TenantID, Auth: authForm{Current: wh.Auth},
		Filter: wh.Filter, Channels: strings.Join(wh.Channels, ", "), Ordering: string(wh.Ordering),
	}
	names := make([]string, 0, len(wh.Headers))
	for k := range wh.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		f.Headers += k + ": " + wh.Headers[k] + "\n"
	}
	p.renderForm(w, r, v, http.StatusOK, f)
}

func (p *portal) getWebhook(r *http.Request, v *viewer, id string) (*webhook, error) {
	var wh webhook
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/webhooks/"+url.PathEscape(id), nil, nil, &wh); err != nil {
		return nil, err
	}
	return &wh, nil
}

// parseForm reads a posted form, bounded in size.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	return r.ParseForm()
}

// readWebhookForm reads the create or edit form, and the body to send the API. A
// problem the API cannot see (a header line without a colon) is the form's Error.
func readWebhookForm(r *http.Request) (*webhookForm, map[string]any) {
	f := &webhookForm{
		Name:        strings.TrimSpace(r.PostForm.Get("name")),
		URL:         strings.TrimSpace(r.PostForm.Get("url")),
		Description: strings.TrimSpace(r.PostForm.Get("description")),
		Format:      r.PostForm.Get("format"),
		AllEvents:   r.PostForm.Get("scope") != "some",
		Events:      r.PostForm["events"],
		RateLimit:   strings.TrimSpace(r.PostForm.Get("rate_limit")),
		Headers:     r.PostForm.Get("headers"),
		TenantID:    r.PostForm.Get("tenant_id"),
		Signing:     r.PostForm.Get("signing"),
		Filter:      strings.TrimSpace(r.PostForm.Get("filter")),
		Channels:    r.PostForm.Get("channels"),
		Ordering:    r.PostForm.Get("ordering"),
	}
	events := []string{}
	if !f.AllEvents {
		if len(f.Events) == 0 {
			f.Error, f.ErrorField = "Choose at least one event type, or every type.", "events"
		}
		events = f.Events
	}
	rate := 0
	if f.RateLimit != "" {
		n, err := strconv.Atoi(f.RateLimit)
		if err != nil || n < 0 {
			f.Error, f.ErrorField = "The rate limit is a whole number of attempts per second, 0 for none.", "rate_limit"
		}
		rate = n
	}
	headers := map[string]string{}
	for line := range strings.Lines(f.Headers) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			f.Error, f.ErrorField = fmt.Sprintf("Each header line is Name: value; %q is not.", line), "headers"
			continue
		}
		headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	body := map[string]any{
		"name": f.Name, "url": f.URL, "description": f.Description, "events": events,
		"rate_limit": rate, "headers": headers,
	}
	var auth map[string]any
	if f.Auth, auth = readAuthForm(r.PostForm, r.PathValue("id") != ""); auth != nil {
		body["auth"] = auth
	}
	if f.Format != "" {
		body["format"] = f.Format
	}
	body["filter"], body["channels"] = f.Filter, splitChannels(f.Channels)
	if f.Ordering != "" {
		body["ordering"] = f.Ordering
	}
	return f, body
}

// formError puts an API refusal on the form; anything else is not the form's to show.
func formError(f *webhookForm, err error) bool {
	var e *herald.Error
	if !errors.As(err, &e) || herald.ErrorStatus(e.Code) >= 500 || e.Code == herald.EUNAUTHORIZED || e.Code == herald.ENOTFOUND {
		return false
	}
	f.Error, f.ErrorField = e.Message, e.Details
	return true
}

type secretData struct {
	Webhook   webhook
	Secret    string
	PublicKey string
	Rotated   bool
	Grace     string
	// Revealed says the secret is shown again on request, not just made.
	Revealed bool
	// Previous is a rotation's old secret while its grace lasts, until PreviousUntil.
	Previous      string
	PreviousUntil *time.Time
}

func (p *portal) createWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f, body := readWebhookForm(r)
	if f.Error != "" {
		p.renderForm(w, r, v, http.StatusUnprocessableEntity, f)
		return
	}
	if v.Admin && f.TenantID != "" {
		body["tenant_id"] = f.TenantID
	}
	if f.Signing != "" {
		body["signing"] = f.Signing
	}
	var created webhook
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks", nil, body, &created); err != nil {
		if formError(f, err) {
			p.renderForm(w, r, v, http.StatusUnprocessableEntity, f)
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusCreated, "secret", v, "Webhook created",
		secretData{Webhook: created, Secret: created.Secret, PublicKey: created.PublicKey})
}

func (p *portal) updateWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f, body := readWebhookForm(r)
	f.ID = id
	if f.Error != "" {
		p.renderForm(w, r, v, http.StatusUnprocessableEntity, f)
		return
	}
	if _, err := p.call(r, v, http.MethodPatch, "/api/v1/webhooks/"+url.PathEscape(id), nil, body, nil); err != nil {
		if formError(f, err) {
			p.renderForm(w, r, v, http.StatusUnprocessableEntity, f)
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/webhooks/"+url.PathEscape(id)+"?msg=saved", http.StatusSeeOther)
}

func (p *portal) setEnabled(enabled bool) func(w http.ResponseWriter, r *http.Request, v *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		id := r.PathValue("id")
		if _, err := p.call(r, v, http.MethodPatch, "/api/v1/webhooks/"+url.PathEscape(id), nil, map[string]any{"enabled": enabled}, nil); err != nil {
			p.renderAPIError(w, r, v, err)
			return
		}
		msg := "disabled"
		if enabled {
			msg = "enabled"
		}
		http.Redirect(w, r, "/webhooks/"+url.PathEscape(id)+"?msg="+msg, http.StatusSeeOther)
	}
}

func (p *portal) deleteWebhookPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	wh, err := p.getWebhook(r, v, r.PathValue("id"))
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "webhook_delete", v, "Delete "+wh.Name, wh)
}

func (p *portal) deleteWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	if _, err := p.call(r, v, http.MethodDelete, "/api/v1/webhooks/"+url.PathEscape(r.PathValue("id")), nil, nil, nil); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/webhooks?msg=deleted", http.StatusSeeOther)
}

// testResult is the API's answer to a test, with the type that was sent.
type testResult struct {
	EventType  string `json:"-"`
	DeliveryID string `json:"delivery_id"`
	Success    bool   `json:"success"`
	StatusCode int    `json:"status_code"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error"`
}

func (p *portal) testWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	// The type is the API's to check: one the webhook subscribes to, with a sample.
	eventType := strings.TrimSpace(r.PostForm.Get("event_type"))
	if eventType == "" {
		eventType = herald.PingType
	}
	res := testResult{EventType: eventType}
	body := map[string]any{"event_type": eventType}
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/test", nil, body, &res); err != nil {
		if r.Header.Get("HX-Request") == "true" {
			var e *herald.Error
			if errors.As(err, &e) && herald.ErrorStatus(e.Code) < 500 && e.Code != herald.EUNAUTHORIZED {
				p.renderFragment(w, r, "webhook", "test-result", testView{Error: e.Message})
				return
			}
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	view := testView{Result: &res}
	if r.Header.Get("HX-Request") == "true" {
		p.renderFragment(w, r, "webhook", "test-result", view)
		return
	}
	// Without a script the whole page comes back, with the result in its place.
	p.showWebhook(w, r, v, func(d *webhookData) { d.Test = &view })
}

// testView is what the test-result fragment shows: the result, or why there is none.
type testView struct {
	Result *testResult
	Error  string
}

func (p *portal) rotateSecret(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	hours, err := strconv.Atoi(r.PostForm.Get("grace_hours"))
	if err != nil || !slices.Contains(graceHours, hours) {
		p.renderError(w, r, v, http.StatusUnprocessableEntity, "Choose the grace period from the list: 0, 1, 24, 72 or 168 hours.")
		return
	}
	wh, err := p.getWebhook(r, v, id)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	var out struct {
		Secret    string `json:"secret"`
		PublicKey string `json:"public_key"`
	}
	body := map[string]any{"grace_period_seconds": hours * 3600}
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/rotate-secret", nil, body, &out); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	grace := "The old secret stopped signing at once."
	if hours > 0 {
		grace = fmt.Sprintf("The old secret keeps signing too for %d hours, so receivers have time to switch.", hours)
	}
	p.render(w, r, http.StatusOK, "secret", v, "Secret rotated",
		secretData{Webhook: *wh, Secret: out.Secret, PublicKey: out.PublicKey, Rotated: true, Grace: grace})
}

// revealSecretPage asks before the secret is shown: showing it is a POST, so a link,
// a prefetch or the history never shows it.
func (p *portal) revealSecretPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	wh, err := p.getWebhook(r, v, r.PathValue("id"))
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "secret_reveal", v, "Reveal the secret of "+wh.Name, wh)
}

// revealSecret shows the webhook's signing secret, through the API, as the session.
func (p *portal) revealSecret(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	wh, err := p.getWebhook(r, v, id)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	var out struct {
		Secret                  string     `json:"secret"`
		PublicKey               string     `json:"public_key"`
		PreviousSecret          string     `json:"previous_secret"`
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	}
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/reveal-secret", nil, nil, &out); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "secret", v, "Signing secret of "+wh.Name, secretData{
		Webhook: *wh, Secret: out.Secret, PublicKey: out.PublicKey, Revealed: true,
		Previous: out.PreviousSecret, PreviousUntil: out.PreviousSecretExpiresAt,
	})
}

func (p *portal) recoverWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	showError := func(d *webhookData, msg string) { d.RecoverError = msg }
	since, ok := p.formSince(w, r, v, showError, "Give the time to requeue failed deliveries from, as a date and time (UTC).")
	if !ok {
		return
	}
	var out struct {
		Requeued int `json:"requeued"`
	}
	body := map[string]any{"since": since.Format(time.RFC3339)}
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/recover", nil, body, &out); err != nil {
		if herald.ErrorCode(err) == herald.EINVALID {
			p.showWebhook(w, r, v, func(d *webhookData) { showError(d, herald.ErrorMessage(err)) })
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/webhooks/%s?msg=requeued&n=%d", url.PathEscape(id), out.Requeued), http.StatusSeeOther)
}

// formSince reads the since field of a form on the webhook page, which starts a window
// of time to act on. When the form cannot be read it answers 400; when since is missing
// or not a time it shows the page again with missing as the form's error, set by
// showError. Either way it reports false, and the caller has nothing left to answer.
func (p *portal) formSince(w http.ResponseWriter, r *http.Request, v *viewer, showError func(d *webhookData, msg string), missing string) (time.Time, bool) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return time.Time{}, false
	}
	since, err := parseLocalTime(r.PostForm.Get("since"))
	if err != nil || since.IsZero() {
		p.showWebhook(w, r, v, func(d *webhookData) { showError(d, missing) })
		return time.Time{}, false
	}
	return since, true
}

// localTimeLayout is the value of an HTML datetime-local input, read as UTC.
const localTimeLayout = "2006-01-02T15:04"

// parseLocalTime reads a datetime-local value as UTC; "" is the zero time.
func parseLocalTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{localTimeLayout, "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", s)
}

type webhookData struct {
	Webhook      webhook
	Flash        string
	Test         *testView
	RecoverError string
	RecoverSince string
	ReplayError  string
	Log          *deliveryLog
	// TestTypes are the types a test may send besides ping: those the webhook
	// subscribes to that have a sample.
	TestTypes []string
	// Verify is how to verify the webhook's requests, with receivers to paste; nil
	// for a format receivercode does not know.
	Verify *receivercode.Guide
	// BlockedKeys are the ordering keys waiting for a head that keeps failing.
	BlockedKeys []herald.BlockedKey
}

func (p *portal) webhookPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.showWebhook(w, r, v, nil)
}

// showWebhook renders a webhook's page, changed by edit (a test result, an error).
func (p *portal) showWebhook(w http.ResponseWriter, r *http.Request, v *viewer, edit func(*webhookData)) {
	id := r.PathValue("id")
	wh, err := p.getWebhook(r, v, id)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	log, err := p.loadLog(r, v, "/api/v1/webhooks/"+url.PathEscape(id)+"/deliveries", "/webhooks/"+url.PathEscape(id), nil)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	d := &webhookData{Webhook: *wh, Flash: flash(r), Log: log,
		RecoverSince: p.now().Add(-24 * time.Hour).Format(localTimeLayout)}
	if err := p.loadBlockedKeys(r, v, d); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	for _, t := range log.Types {
		if t.Type != herald.PingType && len(t.Sample) > 0 && wh.Subscribes(t.Type) {
			d.TestTypes = append(d.TestTypes, t.Type)
		}
	}
	if d.Verify, err = receivercode.Render(receivercode.Webhook{Format: wh.Format, Signing: wh.SigningMode}); err != nil {
		// A format this build does not know: the page shows no receivers rather than none at all.
		p.log.WarnContext(r.Context(), "portal: no receivers for the webhook", "webhook_id", wh.ID, "error", err)
	}
	if edit != nil {
		edit(d)
	}
	status := http.StatusOK
	if d.RecoverError != "" || d.ReplayError != "" {
		status = http.StatusUnprocessableEntity
	}
	p.render(w, r, status, "webhook", v, wh.Name, d)
}
