package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// deliveryLog is one page of a delivery log with the filters that chose it.
type deliveryLog struct {
	Rows       []herald.Delivery
	Action     string // where the filter form goes
	EventID    string
	Status     string
	EventType  string
	Channel    string // of the event
	Since      string // datetime-local values, UTC
	Until      string
	Tenant     string
	WebhookID  string
	Error      string // a filter that could not be read
	Types      []eventType
	Names      map[string]string // webhook names by id, for the overall log
	Page       int
	Total      int
	PrevURL    string
	NextURL    string
	ShowTenant bool
}

// loadLog reads the page of the delivery log at apiPath that the request's filters ask
// for. extra holds filters the caller adds (the overall log's webhook and tenant).
func (p *portal) loadLog(r *http.Request, v *viewer, apiPath, action string, extra url.Values) (*deliveryLog, error) {
	in := r.URL.Query()
	l := &deliveryLog{Action: action, Page: pageParam(r), Status: in.Get("status"), EventType: in.Get("event_type")}
	q := url.Values{"page": {strconv.Itoa(l.Page)}, "per_page": {strconv.Itoa(perPage)}}
	for k, vs := range extra {
		q[k] = vs
	}
	switch herald.DeliveryStatus(l.Status) {
	case herald.StatusPending, herald.StatusRetrying, herald.StatusSuccess, herald.StatusFailed:
		q.Set("status", l.Status)
	default:
		l.Status = ""
	}
	if l.EventType != "" {
		q.Set("event_type", l.EventType)
	}
	if l.Channel = strings.TrimSpace(in.Get("channel")); l.Channel != "" {
		q.Set("channel", l.Channel)
	}
	// A search by the event's id: its delivery to each webhook the log covers.
	if l.EventID = strings.TrimSpace(in.Get("event_id")); l.EventID != "" {
		q.Set("event_id", l.EventID)
	}
	for _, b := range []struct {
		name string
		out  *string
	}{{"since", &l.Since}, {"until", &l.Until}} {
		t, err := parseLocalTime(in.Get(b.name))
		if err != nil {
			l.Error = "The " + b.name + " filter is not a date and time, so it was left out."
			continue
		}
		if !t.IsZero() {
			*b.out = t.Format(localTimeLayout)
			q.Set(b.name, t.Format(time.RFC3339))
		}
	}
	h, err := p.call(r, v, http.MethodGet, apiPath, q, nil, &l.Rows)
	if herald.ErrorCode(err) == herald.EINVALID {
		// A filter the API refuses (since after until) is the filter form's to show.
		l.Error, l.Rows = herald.ErrorMessage(err), nil
	} else if err != nil {
		return nil, err
	}
	l.Total = totalCount(h)
	l.PrevURL, l.NextURL = pageLinks(r, l.Page, perPage, l.Total)
	if l.Types, err = p.catalog(r, v); err != nil {
		return nil, err
	}
	return l, nil
}

type deliveriesData struct {
	Log *deliveryLog
}

func (p *portal) deliveriesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	extra := url.Values{}
	tenant := tenantFilter(r, v)
	if tenant != "" {
		extra.Set("tenant_id", tenant)
	}
	webhookID := r.URL.Query().Get("webhook_id")
	if webhookID != "" {
		extra.Set("webhook_id", webhookID)
	}
	log, err := p.loadLog(r, v, "/api/v1/deliveries", "/deliveries", extra)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	log.Tenant, log.WebhookID, log.ShowTenant = tenant, webhookID, v.Admin
	// Names for the webhook column: the first hundred webhooks the key sees cover
	// most installations; any other shows its id.
	var hooks []webhook
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/webhooks", url.Values{"per_page": {"100"}}, nil, &hooks); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	log.Names = make(map[string]string, len(hooks))
	for _, wh := range hooks {
		log.Names[wh.ID] = wh.Name
	}
	p.render(w, r, http.StatusOK, "deliveries", v, "Deliveries", deliveriesData{Log: log})
}

type deliveryData struct {
	Delivery herald.Delivery
	Event    herald.Event
	Webhook  webhook
	Flash    string
	Error    string
	// Retried is the attempt a manual retry just made, when the page follows one: the
	// banner says how it went.
	Retried *herald.Attempt
	// Attempts are the attempts the delivery keeps, newest first: its first and last
	// ones (see herald.KeepLastAttempts), so a page stays small however often it was
	// retried. Dropped counts those in between, no longer kept.
	Attempts []herald.Attempt
	Dropped  int
}

func (p *portal) deliveryPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.showDelivery(w, r, v, http.StatusOK, "")
}

func (p *portal) showDelivery(w http.ResponseWriter, r *http.Request, v *viewer, status int, problem string) {
	id := r.PathValue("id")
	d := deliveryData{Flash: flash(r), Error: problem}
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/deliveries/"+url.PathEscape(id), nil, nil, &d.Delivery); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	// The event resource is the event with its deliveries, which are not needed here.
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/events/"+url.PathEscape(d.Delivery.EventID), nil, nil, &d.Event); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	wh, err := p.getWebhook(r, v, d.Delivery.WebhookID)
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	d.Webhook = *wh
	// Every attempt kept is at most 23, within one page of the API's.
	query := url.Values{"per_page": {"100"}}
	if _, err := p.call(r, v, http.MethodGet, "/api/v1/deliveries/"+url.PathEscape(id)+"/attempts", query, nil, &d.Attempts); err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	d.Dropped = d.Delivery.AttemptsDropped
	if q := r.URL.Query(); q.Get("msg") == "retried" {
		// Only the number comes from the address; what the banner says is the
		// stored attempt's.
		n, _ := strconv.Atoi(q.Get("attempt")) // not a number matches no attempt
		for i := range d.Attempts {
			if d.Attempts[i].Number == n {
				d.Retried = &d.Attempts[i]
			}
		}
	}
	p.render(w, r, status, "delivery", v, "Delivery "+id, d)
}

func (p *portal) retryDelivery(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	h, err := p.call(r, v, http.MethodPost, "/api/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, nil, nil)
	if err != nil {
		if herald.ErrorCode(err) == herald.ECONFLICT {
			p.showDelivery(w, r, v, http.StatusConflict, herald.ErrorMessage(err))
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	n, _ := strconv.Atoi(h.Get("Herald-Attempt")) // the API always says; 0 matches no attempt
	http.Redirect(w, r, "/deliveries/"+url.PathEscape(id)+"?msg=retried&attempt="+strconv.Itoa(n), http.StatusSeeOther)
}
