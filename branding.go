package herald

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Branding is how the portal presents itself to a tenant's users: the name it goes by,
// an accent colour and a logo. A tenant's branding overrides the installation's field by
// field (see Over); an empty field keeps the one beneath it.
type Branding struct {
	// Name replaces "Herald" in the portal's header and names the provider on the
	// pages that send the visitor back ("← Back to Name").
	Name string `json:"name,omitempty"`
	// Color is the accent colour of links and buttons, as #rgb or #rrggbb.
	Color string `json:"color,omitempty"`
	// LogoURL is an image shown beside the name: an https:// URL, or a data: URL of a
	// PNG, JPEG, GIF or WebP image.
	LogoURL string `json:"logo_url,omitempty"`
}

// Limits on Branding's fields. A data: logo is kept with the tenant and sent with every
// page, so it stays small.
const (
	MaxBrandNameLen = 100
	MaxLogoURLLen   = 32 << 10
)

var brandColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// dataLogoPrefixes are the data: URL heads a logo may start with: raster images only, as
// an SVG image may carry script.
var dataLogoPrefixes = []string{"data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,", "data:image/webp;base64,"}

// Validate reports the first field of b that the portal cannot show safely, as an
// EINVALID error naming it. Colours are hex only, so none can break out of the
// stylesheet they are written into; logos are https or a raster data: image, so none
// can run script or load over plain HTTP.
func (b Branding) Validate() error {
	if utf8.RuneCountInString(b.Name) > MaxBrandNameLen || !utf8.ValidString(b.Name) || strings.ContainsFunc(b.Name, isControl) {
		return &Error{Code: EINVALID, Message: "branding.name must be at most 100 characters, with no control characters", Details: "branding.name"}
	}
	if b.Color != "" && !brandColor.MatchString(b.Color) {
		return &Error{Code: EINVALID, Message: "branding.color must be a hex colour such as #0b5cad or #05a", Details: "branding.color"}
	}
	if b.LogoURL != "" {
		if err := validLogoURL(b.LogoURL); err != "" {
			return &Error{Code: EINVALID, Message: "branding.logo_url " + err, Details: "branding.logo_url"}
		}
	}
	return nil
}

func validLogoURL(s string) string {
	if len(s) > MaxLogoURLLen {
		return "must be at most 32 KiB"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return isControl(r) || r == ' ' || r == '"' || r == '\'' || r == '\\' }) {
		return "must not contain spaces, quotes, backslashes or control characters"
	}
	lower := strings.ToLower(s)
	for _, p := range dataLogoPrefixes {
		if strings.HasPrefix(lower, p) {
			return ""
		}
	}
	if strings.HasPrefix(lower, "data:") {
		return "may be a data: URL only of a base64 PNG, JPEG, GIF or WebP image"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "must be an https:// URL or a data:image/png;base64 (or jpeg, gif, webp) URL"
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// Over returns b with each empty field taken from base: a tenant's branding over the
// installation's.
func (b Branding) Over(base Branding) Branding {
	if b.Name == "" {
		b.Name = base.Name
	}
	if b.Color == "" {
		b.Color = base.Color
	}
	if b.LogoURL == "" {
		b.LogoURL = base.LogoURL
	}
	return b
}

// LogoOrigin is the origin ("https://cdn.example.com") the portal's Content-Security-Policy
// must allow images from for an https logo; "" for none or a data: logo.
func (b Branding) LogoOrigin() string {
	if !strings.HasPrefix(strings.ToLower(b.LogoURL), "https://") {
		return ""
	}
	u, err := url.Parse(b.LogoURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return "https://" + strings.ToLower(u.Host)
}
