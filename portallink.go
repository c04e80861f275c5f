package herald

import (
	"net/url"
	"strings"
	"time"
)

// PortalLink is a single-use link that signs its visitor in to one tenant's portal with
// no API key: what a provider's backend mints for each customer who opens "Webhooks" in
// the provider's app. The visitor's URL holds a random token; the store holds only its
// hash (HashSessionID), so a copy of the database opens nothing.
type PortalLink struct {
	TokenHash []byte
	TenantID  string
	// ReadOnly links begin sessions that can see everything and change nothing.
	ReadOnly bool
	// ReturnURL is where the portal sends the visitor back to ("← Back to …"), and the
	// page of a used or expired link points to; "" for none.
	ReturnURL string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the link was followed; nil until then.
	UsedAt *time.Time
}

// PortalLinkPath is where the portal serves portal links: a link's URL is the public
// URL, this path, and the token.
const PortalLinkPath = "/links/"

// Portal link lifetimes: the default, and the most a caller may ask for.
const (
	DefaultPortalLinkTTL = 15 * time.Minute
	MaxPortalLinkTTL     = 24 * time.Hour
)

// PortalLinkKept is how long a link's row outlives its expiry, so that following it late
// still shows where to go back to rather than an unknown link.
const PortalLinkKept = 24 * time.Hour

// MaxReturnURLLen bounds a portal link's return_url.
const MaxReturnURLLen = 2048

// ValidateReturnURL reports whether s may be a portal link's return_url: empty, or an
// absolute http(s) URL with no credentials, so the portal never renders a javascript:
// or data: link.
func ValidateReturnURL(s string) error {
	if s == "" {
		return nil
	}
	bad := &Error{Code: EINVALID, Message: "return_url must be an absolute https:// (or http://) URL of at most 2048 characters", Details: "return_url"}
	if len(s) > MaxReturnURLLen || strings.ContainsFunc(s, isControl) || strings.ContainsAny(s, " \\") {
		return bad
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return bad
	}
	return nil
}

// Validate refuses a portal link without a token hash, a tenant, or an expiry after
// its creation.
func (l *PortalLink) Validate() error {
	if len(l.TokenHash) == 0 || l.TenantID == "" || !l.ExpiresAt.After(l.CreatedAt) {
		return Errorf(EINVALID, "a portal link needs a token hash, a tenant and an expiry after its creation")
	}
	return nil
}
