package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// splitChannels reads the form's channels: separated by commas or spaces.
func splitChannels(s string) []string {
	out := []string{}
	for _, c := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, c)
	}
	return out
}

// filterTestView is what testing a filter against a type's sample found.
type filterTestView struct {
	Type    string
	Valid   bool
	Matched bool
	Error   string
}

// filterTest tests the form's filter against the catalog's sample of the chosen type,
// as the webhook's subscribed types check it: in place with htmx, or by showing the
// form again with the result.
func (p *portal) filterTest(w http.ResponseWriter, r *http.Request, v *viewer) {
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f, body := readWebhookForm(r)
	f.ID = r.PostForm.Get("id")
	typ := r.PostForm.Get("filter_type")
	view := &filterTestView{Type: typ}
	switch {
	case f.Filter == "":
		view.Valid, view.Matched = true, true
		view.Error = "No filter: every event of the webhook's types and channels is delivered."
	case typ == "":
		view.Error = "Choose an event type to test against."
	default:
		req := map[string]any{"filter": f.Filter, "event_type": typ, "events": body["events"]}
		if cs := splitChannels(f.Channels); len(cs) > 0 {
			req["channels"] = cs
		}
		var out struct {
			Valid   bool   `json:"valid"`
			Matched bool   `json:"matched"`
			Error   string `json:"error"`
		}
		if _, err := p.call(r, v, http.MethodPost, "/api/v1/filters/test", nil, req, &out); err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				p.renderAPIError(w, r, v, err)
				return
			}
			out.Error = herald.ErrorMessage(err)
		}
		view.Valid, view.Matched, view.Error = out.Valid, out.Matched, out.Error
	}
	if r.Header.Get("HX-Request") == "true" {
		p.renderFragment(w, r, "webhook_form", "filter-result", view)
		return
	}
	f.Error = "" // the test's outcome is shown by the filter, not as the form's error
	f.FilterTest = view
	p.renderForm(w, r, v, http.StatusOK, f)
}

// replayWebhook sends stored events again to the webhook, from the page's form.
func (p *portal) replayWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	showError := func(d *webhookData, msg string) { d.ReplayError = msg }
	since, ok := p.formSince(w, r, v, showError, "Give the time to replay events from, as a date and time (UTC).")
	if !ok {
		return
	}
	body := map[string]any{"since": since.Format(time.RFC3339), "only_failed": r.PostForm.Get("only_failed") == "on"}
	var out struct {
		Replayed int `json:"replayed"`
		Skipped  int `json:"skipped"`
	}
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/webhooks/"+url.PathEscape(id)+"/replay", nil, body, &out); err != nil {
		if c := herald.ErrorCode(err); c == herald.EINVALID || c == herald.ECONFLICT {
			p.showWebhook(w, r, v, func(d *webhookData) { showError(d, herald.ErrorMessage(err)) })
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/webhooks/%s?msg=replayed&n=%d&s=%d", url.PathEscape(id), out.Replayed, out.Skipped), http.StatusSeeOther)
}
