package portal

import (
	"net/http"
	"net/url"

	"github.com/heraldhq/herald"
)

// loadBlockedKeys fills d's blocked ordering keys. Only a webhook that orders by key, or
// did, can have any; the API answers an empty list for the others.
func (p *portal) loadBlockedKeys(r *http.Request, v *viewer, d *webhookData) error {
	_, err := p.call(r, v, http.MethodGet, "/api/v1/webhooks/"+url.PathEscape(d.Webhook.ID)+"/blocked-keys", nil, nil, &d.BlockedKeys)
	return err
}

// skipDelivery gives a pending delivery up and goes back to its webhook's page, where
// the key it held moves on; a delivery that cannot be skipped (finished, or being sent)
// shows its page with why.
func (p *portal) skipDelivery(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	var d herald.Delivery
	if _, err := p.call(r, v, http.MethodPost, "/api/v1/deliveries/"+url.PathEscape(id)+"/skip", nil, nil, &d); err != nil {
		if herald.ErrorCode(err) == herald.ECONFLICT {
			p.showDelivery(w, r, v, http.StatusConflict, herald.ErrorMessage(err))
			return
		}
		p.renderAPIError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/webhooks/"+url.PathEscape(d.WebhookID)+"?msg=skipped", http.StatusSeeOther)
}
