package portal

import (
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald"
)

type catalogData struct {
	Types []eventType
}

func (p *portal) catalogPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	types, err := p.catalog(r, v)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "catalog", v, "Event catalog", catalogData{Types: types})
}

type eventTypeData struct {
	Type     eventType
	Webhooks []webhook
	Error    string
}

// lookupType finds one type of the catalog the key sees.
func (p *portal) lookupType(r *http.Request, v *viewer, name string) (*eventType, error) {
	types, err := p.catalog(r, v)
	if err != nil {
		return nil, err
	}
	for i := range types {
		if types[i].Type == name {
			return &types[i], nil
		}
	}
	return nil, nil
}

func (p *portal) eventTypePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.showEventType(w, r, v, http.StatusOK, "")
}

func (p *portal) showEventType(w http.ResponseWriter, r *http.Request, v *viewer, status int, problem string) {
	t, err := p.lookupType(r, v, r.PathValue("type"))
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	if t == nil {
		p.renderError(w, r, v, http.StatusNotFound, "The catalog has no event type of that name.")
		return
	}
	d := eventTypeData{Type: *t, Error: problem}
	if !v.Admin {
		// Only the admin may send a sample (it publishes an event), so only the admin
		// needs the webhooks to choose from.
		p.render(w, r, status, "event_type", v, t.Type, d)
		return
	}
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/webhooks", url.Values{"per_page": {"100"}}, nil, &d.Webhooks); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.render(w, r, status, "event_type", v, t.Type, d)
}

// sendSample queues the type's sample payload as a new event for one webhook only.
//
// Sending a sample publishes an event, and only the admin key publishes (tenant keys
// cannot), so for a tenant session this admin page does not exist (404) and the form
// is never shown; a tenant sends a sample to its own webhook with the webhook's test. The API
// has no route for this (a publication reaches every subscribed webhook), so the portal
// publishes to the store itself, targeted at the one webhook as a test ping is. The
// webhook is read through the API first with the session's key.
func (p *portal) sendSample(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.Admin {
		p.notFoundPage(w, r)
		return
	}
	if err := parseForm(w, r); err != nil {
		p.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
		return
	}
	t, err := p.lookupType(r, v, r.PathValue("type"))
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	if t == nil {
		p.renderError(w, r, v, http.StatusNotFound, "The catalog has no event type of that name.")
		return
	}
	if len(t.Sample) == 0 {
		p.showEventType(w, r, v, http.StatusUnprocessableEntity, "This event type has no sample payload to send.")
		return
	}
	id := r.PostForm.Get("webhook_id")
	if id == "" {
		p.showEventType(w, r, v, http.StatusUnprocessableEntity, "Choose the webhook to send the sample to.")
		return
	}
	wh, err := p.getWebhook(r, v, id)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	now := p.now()
	res, err := p.store.Publish(r.Context(), []herald.Publication{{
		Event: herald.Event{
			ID: herald.NewID(herald.PrefixEvent), TenantID: wh.TenantID, Type: t.Type, Data: t.Sample,
			Timestamp: now.Truncate(time.Second), CreatedAt: now,
		},
		Target: wh.ID,
	}})
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	p.wake()
	if len(res) != 1 || len(res[0].DeliveryIDs) != 1 {
		p.renderError(w, r, v, http.StatusInternalServerError, "The sample was not queued.")
		return
	}
	http.Redirect(w, r, "/deliveries/"+url.PathEscape(res[0].DeliveryIDs[0])+"?msg=sample", http.StatusSeeOther)
}
