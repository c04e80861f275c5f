package client

import (
	"context"
	"iter"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
)

// TenantCreate is a tenant to create (admin key). Name is required.
type TenantCreate struct {
	// ID is your id for the tenant (your team's id, say); default a new team_ id.
	ID          string           `json:"id,omitempty"`
	Name        string           `json:"name"`
	NotifyEmail string           `json:"notify_email,omitempty"`
	Branding    *herald.Branding `json:"branding,omitempty"`
}

// TenantUpdate changes the fields that are not nil and keeps the others.
type TenantUpdate struct {
	Name        *string          `json:"name,omitempty"`
	NotifyEmail *string          `json:"notify_email,omitempty"` // "" for nowhere
	Branding    *herald.Branding `json:"branding,omitempty"`     // replaces it whole; {} clears it
}

// TenantWithKey is a tenant as created: with its API key, shown this once.
type TenantWithKey struct {
	herald.Tenant
	APIKey string `json:"api_key"`
}

// RotatedKey is a tenant's new API key, shown this once.
type RotatedKey struct {
	APIKey string `json:"api_key"`
	// PreviousKeyExpiresAt is until when the replaced key keeps working; nil when it
	// stopped at once.
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at,omitempty"`
}

// PortalLinkOptions shape a portal link.
type PortalLinkOptions struct {
	// TTL is how long the link can be followed, at most 24 h; 0 for the server's 15 min.
	TTL time.Duration
	// ReadOnly makes a session that sees everything and changes nothing.
	ReadOnly bool
	// ReturnURL is where the portal's "← Back to" link, and the page of a used or
	// expired link, send the visitor: an absolute http(s) URL.
	ReturnURL string
}

// PortalLink is a single-use URL that signs its visitor in to a tenant's portal.
type PortalLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TenantsService calls the tenant routes: /api/v1/tenants.
type TenantsService struct{ c *Client }

// Create creates a tenant and returns it with its API key, the only time it is shown.
func (s *TenantsService) Create(ctx context.Context, t TenantCreate) (*TenantWithKey, error) {
	var out TenantWithKey
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("tenants"), body: t}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns a page of tenants (admin key).
func (s *TenantsService) List(ctx context.Context, opts ListOptions) (*Page[herald.Tenant], error) {
	return list[herald.Tenant](ctx, s.c, pathOf("tenants"), pageQuery(nil, opts))
}

// All iterates over every tenant from the page opts asks for (the first by default),
// fetching pages as it goes; it stops at the first error, which it yields.
func (s *TenantsService) All(ctx context.Context, opts ListOptions) iter.Seq2[herald.Tenant, error] {
	return all[herald.Tenant](ctx, s.c, pathOf("tenants"), pageQuery(nil, opts))
}

// Get returns a tenant.
func (s *TenantsService) Get(ctx context.Context, id string) (*herald.Tenant, error) {
	var out herald.Tenant
	if _, err := s.c.do(ctx, &request{method: http.MethodGet, path: pathOf("tenants", id), replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update changes the fields of u that are set, and returns the tenant.
func (s *TenantsService) Update(ctx context.Context, id string, u TenantUpdate) (*herald.Tenant, error) {
	var out herald.Tenant
	if _, err := s.c.do(ctx, &request{method: http.MethodPatch, path: pathOf("tenants", id), body: u, replayable: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a tenant with its webhooks and deliveries (admin key).
func (s *TenantsService) Delete(ctx context.Context, id string) error {
	_, err := s.c.do(ctx, &request{method: http.MethodDelete, path: pathOf("tenants", id), replayable: true}, nil)
	return err
}

// RotateKey gives a tenant a new API key; the old one keeps working for grace (whole
// seconds, at most 30 days; 0 stops it at once), and the tenant's portal sessions end.
func (s *TenantsService) RotateKey(ctx context.Context, id string, grace time.Duration) (*RotatedKey, error) {
	body := struct {
		GracePeriodSeconds int64 `json:"grace_period_seconds"`
	}{int64(grace / time.Second)}
	var out RotatedKey
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("tenants", id, "rotate-key"), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PortalLink mints a single-use link that signs its visitor in to the tenant's portal
// with no key: what a backend mints each time a customer opens its webhooks page, to
// embed in an iframe or redirect to.
func (s *TenantsService) PortalLink(ctx context.Context, id string, o PortalLinkOptions) (*PortalLink, error) {
	body := struct {
		TTL       string `json:"ttl,omitempty"`
		ReadOnly  bool   `json:"read_only,omitempty"`
		ReturnURL string `json:"return_url,omitempty"`
	}{ReadOnly: o.ReadOnly, ReturnURL: o.ReturnURL}
	if o.TTL != 0 {
		body.TTL = o.TTL.String()
	}
	var out PortalLink
	if _, err := s.c.do(ctx, &request{method: http.MethodPost, path: pathOf("tenants", id, "portal-links"), body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
