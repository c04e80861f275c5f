package httpapi

import (
	"context"
	"net/http"
	"net/mail"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// tenant is the tenant resource.
type tenant struct {
	ID          string    `json:"id" example:"team_xyz"`
	Name        string    `json:"name"`
	NotifyEmail string    `json:"notify_email" doc:"Where notices about its webhooks go (auto-disable)"`
	Branding    branding  `json:"branding" doc:"How the portal presents itself to the tenant's users, over the installation's --portal-brand-* flags field by field"`
	CreatedAt   time.Time `json:"created_at"`
}

// branding is a tenant's portal branding; an empty field falls back to the
// installation's.
type branding struct {
	Name    string `json:"name,omitempty" maxLength:"100" doc:"Shown in place of Herald in the portal's header, and in \"← Back to <name>\"" example:"Acme Cloud"`
	Color   string `json:"color,omitempty" doc:"Accent colour of links and buttons: #rgb or #rrggbb" example:"#0b5cad"`
	LogoURL string `json:"logo_url,omitempty" doc:"Logo beside the name: an https:// URL, or a base64 data: URL of a PNG, JPEG, GIF or WebP image (at most 32 KiB)" example:"https://cdn.example.com/logo.png"`
}

// domain is b as the tenant's branding, refused unless it passes Branding.Validate.
func (b branding) domain() (herald.Branding, error) {
	d := herald.Branding{Name: strings.TrimSpace(b.Name), Color: b.Color, LogoURL: b.LogoURL}
	return d, d.Validate()
}

// tenantWithKey is a tenant as created: with its API key, shown this once.
type tenantWithKey struct {
	tenant
	APIKey string `json:"api_key" doc:"The tenant's API key. Shown only now: store it"`
}

// Schema documents tenantWithKey as the tenant resource plus its key (huma does not see
// the fields of unexported embedded structs).
func (tenantWithKey) Schema(r huma.Registry) *huma.Schema {
	return extendSchema(r, reflect.TypeFor[tenant](), "api_key", "The tenant's API key. Shown only now: store it")
}

type createTenantInput struct {
	Body struct {
		ID          string    `json:"id,omitempty" pattern:"^[A-Za-z0-9_-]{1,64}$" doc:"Your id for the tenant (Frugally's team_id, say); default a new team_ id"`
		Name        string    `json:"name" minLength:"1" maxLength:"200"`
		NotifyEmail string    `json:"notify_email,omitempty" maxLength:"320" format:"email" doc:"Where notices about its webhooks go"`
		Branding    *branding `json:"branding,omitempty" doc:"How the portal presents itself to the tenant's users"`
	}
}

type updateTenantInput struct {
	ID   string `path:"id" doc:"The tenant's id"`
	Body struct {
		Name        *string   `json:"name,omitempty" minLength:"1" maxLength:"200"`
		NotifyEmail *string   `json:"notify_email,omitempty" maxLength:"320" doc:"Where notices about its webhooks go; \"\" for nowhere"`
		Branding    *branding `json:"branding,omitempty" doc:"Replaces the tenant's branding whole; {} clears it"`
	}
}

type tenantInput struct {
	ID string `path:"id" doc:"The tenant's id"`
}

type tenantOutput struct {
	Body tenant
}

type createdTenantOutput struct {
	Body tenantWithKey
}

type listTenantsOutput struct {
	TotalCount int `header:"X-Total-Count" doc:"How many tenants there are"`
	Body       []tenant
}

type rotateKeyInput struct {
	ID   string `path:"id" doc:"The tenant's id"`
	Body *struct {
		GracePeriodSeconds int `json:"grace_period_seconds,omitempty" minimum:"0" maximum:"2592000" doc:"How long the replaced key keeps working, in seconds (at most 30 days); 0, the default, stops it at once"`
	}
}

type rotatedKey struct {
	APIKey               string     `json:"api_key" doc:"The tenant's new API key. Shown only now: store it"`
	PreviousKeyExpiresAt *time.Time `json:"previous_key_expires_at,omitempty" doc:"Until when the replaced key keeps working; absent when it stopped at once"`
}

type rotatedKeyOutput struct {
	Body rotatedKey
}

// maxKeyGrace bounds a key rotation's grace period: long enough to roll a new key out
// to every producer, short enough that a leaked key is not kept alive for long.
const maxKeyGrace = 30 * 24 * time.Hour

var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *server) registerTenants() {
	tags := []string{"Tenants"}
	admin := map[string]any{adminOnly: true}
	register(s, huma.Operation{
		OperationID: "create-tenant", Method: http.MethodPost, Path: "/api/v1/tenants",
		Summary:     "Create a tenant",
		Description: "Answers 201 with the tenant's API key, the only time it is shown.",
		Tags:        tags, Security: security, Metadata: admin, DefaultStatus: http.StatusCreated,
		MaxBodyBytes: maxBody + 1, Errors: []int{400, 401, 403, 409, 413, 422},
	}, s.createTenant)
	register(s, huma.Operation{
		OperationID: "list-tenants", Method: http.MethodGet, Path: "/api/v1/tenants",
		Summary: "List tenants", Description: "Newest first.",
		Tags: tags, Security: security, Metadata: admin, Errors: []int{401, 403},
	}, s.listTenants)
	register(s, huma.Operation{
		OperationID: "get-tenant", Method: http.MethodGet, Path: "/api/v1/tenants/{id}",
		Summary: "Get a tenant", Tags: tags, Security: security, Metadata: admin, Errors: []int{401, 403, 404},
	}, s.getTenant)
	register(s, huma.Operation{
		OperationID: "update-tenant", Method: http.MethodPatch, Path: "/api/v1/tenants/{id}",
		Summary:     "Update a tenant",
		Description: "Changes the fields given: name, notify_email, branding (replaced whole). Admin only.",
		Tags:        tags, Security: security, Metadata: admin, MaxBodyBytes: maxBody + 1,
		Errors: []int{400, 401, 403, 404, 413, 422},
	}, s.updateTenant)
	register(s, huma.Operation{
		OperationID: "delete-tenant", Method: http.MethodDelete, Path: "/api/v1/tenants/{id}",
		Summary:     "Delete a tenant",
		Description: "Deletes the tenant with its webhooks, events and deliveries. The default tenant cannot be deleted.",
		Tags:        tags, Security: security, Metadata: admin, DefaultStatus: http.StatusNoContent,
		Errors: []int{401, 403, 404, 409},
	}, s.deleteTenant)
	register(s, huma.Operation{
		OperationID: "rotate-tenant-key", Method: http.MethodPost, Path: "/api/v1/tenants/{id}/rotate-key",
		Summary: "Rotate a tenant's API key",
		Description: "Answers 200 with a new API key for the tenant, the only time it is shown. The replaced key keeps " +
			"working for grace_period_seconds (default 0: it stops at once), then answers 401. Every portal session of " +
			"the tenant ends at once. The admin key, or the tenant's own key; another tenant's id is 404.",
		Tags: tags, Security: security, Metadata: map[string]any{keyOnly: true}, MaxBodyBytes: maxBody + 1,
		Errors: []int{401, 403, 404, 413, 422},
	}, s.rotateTenantKey)
	s.registerPortalLinks()
}

func toTenant(t *herald.Tenant) tenant {
	return tenant{ID: t.ID, Name: t.Name, NotifyEmail: t.NotifyEmail, CreatedAt: t.CreatedAt,
		Branding: branding{Name: t.Branding.Name, Color: t.Branding.Color, LogoURL: t.Branding.LogoURL}}
}

func (s *server) createTenant(ctx context.Context, in *createTenantInput) (*createdTenantOutput, error) {
	req := &in.Body
	t := &herald.Tenant{
		ID:          req.ID,
		Name:        strings.TrimSpace(req.Name),
		NotifyEmail: strings.TrimSpace(req.NotifyEmail),
		CreatedAt:   s.clock.Now().UTC(),
	}
	if t.ID == "" {
		t.ID = herald.NewID(herald.PrefixTenant)
	} else if !tenantIDPattern.MatchString(t.ID) {
		return nil, invalid("id", "id must be 1 to 64 letters, digits, _ or -")
	}
	if err := checkName(t.Name); err != nil {
		return nil, err
	}
	if err := checkNotifyEmail(t.NotifyEmail); err != nil {
		return nil, err
	}
	if req.Branding != nil {
		var err error
		if t.Branding, err = req.Branding.domain(); err != nil {
			return nil, err
		}
	}
	key := herald.NewAPIKey(herald.PrefixTenantKey)
	if err := s.store.CreateTenant(ctx, t, herald.HashKey(key)); err != nil {
		if herald.ErrorCode(err) == herald.ECONFLICT {
			return nil, herald.Errorf(herald.ECONFLICT, "tenant %q exists", t.ID)
		}
		return nil, err
	}
	return &createdTenantOutput{Body: tenantWithKey{tenant: toTenant(t), APIKey: key}}, nil
}

// checkNotifyEmail refuses a notify email that is not one plain address.
func checkNotifyEmail(email string) error {
	if email == "" {
		return nil
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return invalid("notify_email", "notify_email must be an email address, like ops@example.com")
	}
	return nil
}

func (s *server) updateTenant(ctx context.Context, in *updateTenantInput) (*tenantOutput, error) {
	t, err := s.store.Tenant(ctx, in.ID)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
	}
	if err != nil {
		return nil, err
	}
	req := &in.Body
	if req.Name != nil {
		t.Name = strings.TrimSpace(*req.Name)
		if err := checkName(t.Name); err != nil {
			return nil, err
		}
	}
	if req.NotifyEmail != nil {
		t.NotifyEmail = strings.TrimSpace(*req.NotifyEmail)
		if err := checkNotifyEmail(t.NotifyEmail); err != nil {
			return nil, err
		}
	}
	if req.Branding != nil {
		if t.Branding, err = req.Branding.domain(); err != nil {
			return nil, err
		}
	}
	if err := s.store.UpdateTenant(ctx, t); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
		}
		return nil, err
	}
	return &tenantOutput{Body: toTenant(t)}, nil
}

func (s *server) listTenants(ctx context.Context, _ *struct{}) (*listTenantsOutput, error) {
	ts, err := s.store.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(ts, func(a, b herald.Tenant) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := &listTenantsOutput{TotalCount: len(ts), Body: make([]tenant, 0, len(ts))}
	for i := range ts {
		out.Body = append(out.Body, toTenant(&ts[i]))
	}
	return out, nil
}

func (s *server) getTenant(ctx context.Context, in *tenantInput) (*tenantOutput, error) {
	t, err := s.store.Tenant(ctx, in.ID)
	if err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
		}
		return nil, err
	}
	return &tenantOutput{Body: toTenant(t)}, nil
}

func (s *server) deleteTenant(ctx context.Context, in *tenantInput) (*struct{}, error) {
	if in.ID == herald.DefaultTenantID {
		return nil, herald.Errorf(herald.ECONFLICT, "the default tenant cannot be deleted")
	}
	if err := s.store.DeleteTenant(ctx, in.ID); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
		}
		return nil, err
	}
	return nil, nil
}

func (s *server) rotateTenantKey(ctx context.Context, in *rotateKeyInput) (*rotatedKeyOutput, error) {
	p := caller(ctx)
	if !p.sees(in.ID) {
		return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
	}
	var grace time.Duration
	if in.Body != nil {
		grace = time.Duration(in.Body.GracePeriodSeconds) * time.Second
	}
	if grace < 0 || grace > maxKeyGrace {
		return nil, invalid("grace_period_seconds", "grace_period_seconds must be 0 to %d (30 days)", int(maxKeyGrace.Seconds()))
	}
	out := &rotatedKeyOutput{Body: rotatedKey{APIKey: herald.NewAPIKey(herald.PrefixTenantKey)}}
	var expires time.Time
	if grace > 0 {
		expires = s.clock.Now().UTC().Add(grace)
		out.Body.PreviousKeyExpiresAt = &expires
	}
	if err := s.store.RotateTenantKey(ctx, in.ID, herald.HashKey(out.Body.APIKey), expires); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
		}
		return nil, err
	}
	return out, nil
}
