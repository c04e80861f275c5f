package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

type createPortalLinkInput struct {
	ID   string `path:"id" doc:"The tenant's id"`
	Body *struct {
		TTL       string `json:"ttl,omitempty" maxLength:"32" doc:"How long the link can be followed, as a Go duration (90s, 15m, 2h): at most 24h; default 15m" example:"15m"`
		ReadOnly  bool   `json:"read_only,omitempty" doc:"The session can see everything and change nothing: every POST answers 403"`
		ReturnURL string `json:"return_url,omitempty" maxLength:"2048" doc:"Where the portal's \"← Back to\" link, and the page of a used or expired link, send the visitor: an absolute http(s) URL" example:"https://app.example.com/settings"`
	}
	// origin is scheme://host of the request, for the link when there is no PublicURL.
	origin string
}

// Resolve keeps the origin the request reached the API at.
func (in *createPortalLinkInput) Resolve(ctx huma.Context) []error {
	scheme := "http"
	proto, _, _ := strings.Cut(ctx.Header("X-Forwarded-Proto"), ",")
	if ctx.TLS() != nil || strings.EqualFold(strings.TrimSpace(proto), "https") {
		scheme = "https"
	}
	in.origin = scheme + "://" + ctx.Host()
	return nil
}

type portalLink struct {
	URL       string    `json:"url" doc:"Open it in a browser (or an iframe) to sign in to the tenant's portal. It works once" example:"https://herald.example.com/links/Zm9v…"`
	ExpiresAt time.Time `json:"expires_at" doc:"When the link stops working if it was not followed"`
}

type portalLinkOutput struct {
	Body portalLink
}

func (s *server) registerPortalLinks() {
	register(s, huma.Operation{
		OperationID: "create-portal-link", Method: http.MethodPost, Path: "/api/v1/tenants/{id}/portal-links",
		Summary: "Mint a portal link",
		Description: "Answers 201 with a single-use URL that signs its visitor in to the tenant's portal with no API key: " +
			"what a provider's backend mints each time a customer opens its Webhooks page, to embed in an iframe or " +
			"redirect to. The link is built from --public-url (else this request's own scheme and host), works once, and " +
			"expires after ttl. Following it starts a portal session of the tenant that lasts the portal's session " +
			"lifetime (12 hours) or until the tenant's key is rotated or the tenant deleted; it reaches only this " +
			"tenant's webhooks and deliveries, never admin pages, and a read_only session changes nothing. The admin " +
			"key, or the tenant's own key; another tenant's id is 404. Only the link's hash is stored.",
		Tags: []string{"Tenants"}, Security: security, Metadata: map[string]any{keyOnly: true},
		DefaultStatus: http.StatusCreated, MaxBodyBytes: maxBody + 1, Errors: []int{400, 401, 403, 404, 413, 422},
	}, s.createPortalLink)
}

func (s *server) createPortalLink(ctx context.Context, in *createPortalLinkInput) (*portalLinkOutput, error) {
	p := caller(ctx)
	if !p.sees(in.ID) {
		return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
	}
	ttl := herald.DefaultPortalLinkTTL
	link := &herald.PortalLink{TenantID: in.ID}
	if in.Body != nil {
		if in.Body.TTL != "" {
			d, err := time.ParseDuration(in.Body.TTL)
			if err != nil || d <= 0 || d > herald.MaxPortalLinkTTL {
				return nil, invalid("ttl", "ttl must be a duration such as 15m or 2h, more than 0 and at most 24h")
			}
			ttl = d
		}
		link.ReadOnly = in.Body.ReadOnly
		link.ReturnURL = strings.TrimSpace(in.Body.ReturnURL)
		if err := herald.ValidateReturnURL(link.ReturnURL); err != nil {
			return nil, err
		}
	}
	token := herald.NewSessionID()
	link.TokenHash = herald.HashSessionID(token)
	link.CreatedAt = s.clock.Now().UTC()
	link.ExpiresAt = link.CreatedAt.Add(ttl)
	if err := s.store.CreatePortalLink(ctx, link); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return nil, herald.Errorf(herald.ENOTFOUND, "tenant %q not found", in.ID)
		}
		return nil, err
	}
	base := s.publicURL
	if base == "" {
		base = in.origin
	}
	return &portalLinkOutput{Body: portalLink{URL: base + herald.PortalLinkPath + token, ExpiresAt: link.ExpiresAt}}, nil
}
