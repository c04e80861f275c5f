package portal

import (
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// linkGoneData is the page of a portal link that cannot sign anyone in.
type linkGoneData struct {
	// Provider names the app that minted the link, "" when it is not known.
	Provider  string
	ReturnURL string
	// SessionEnded is true when the page is shown for a link's session that has ended,
	// not for the link itself.
	SessionEnded bool
}

// linkEndedPath is the page a browser that signed in through a portal link is sent to
// once its session has expired or was ended.
const linkEndedPath = "/link-ended"

// LinkOriginCookie is the name of the cookie that remembers, over plain HTTP, that the
// browser signed in through a portal link, with the page that link's gone page shows.
const LinkOriginCookie = "herald_link"

// SecureLinkOriginCookie is LinkOriginCookie's name over TLS, __Host- for the reasons
// SecureSessionCookie is.
const SecureLinkOriginCookie = "__Host-" + LinkOriginCookie

// linkOriginTTL is how long a browser remembers that it came from a portal link: far
// beyond its session, so a portal tab left open for days still sends its visitor back
// to the provider's app rather than to a sign-in form asking for a key.
const linkOriginTTL = 30 * 24 * time.Hour

func linkOriginName(r *http.Request) string {
	if overTLS(r) {
		return SecureLinkOriginCookie
	}
	return LinkOriginCookie
}

// setLinkOrigin remembers in the browser that it signed in through a link, and what the
// link's gone page shows: the provider's name and the return_url. Neither is secret,
// the page showed both to this visitor, and nothing is granted on the strength of the
// cookie: it only chooses which page a browser without a session is sent to.
func (p *portal) setLinkOrigin(w http.ResponseWriter, r *http.Request, d linkGoneData) {
	v := url.Values{"provider": {d.Provider}, "return_url": {d.ReturnURL}}
	p.setCookie(w, r, linkOriginName(r), v.Encode(), p.now().Add(linkOriginTTL), http.SameSiteLaxMode)
}

// clearLinkOrigin forgets that the browser came from a link.
func (p *portal) clearLinkOrigin(w http.ResponseWriter, r *http.Request) {
	p.setCookie(w, r, linkOriginName(r), "", time.Time{}, http.SameSiteLaxMode)
}

// linkOrigin reads the cookie setLinkOrigin set, and whether there is one. The browser
// could have changed it, so the return_url is validated again as a link's is, and
// dropped if it fails; the provider's name is only ever rendered as text.
func linkOrigin(r *http.Request) (linkGoneData, bool) {
	c, err := r.Cookie(linkOriginName(r))
	if err != nil || c.Value == "" {
		return linkGoneData{}, false
	}
	v, err := url.ParseQuery(c.Value)
	if err != nil {
		return linkGoneData{}, false
	}
	d := linkGoneData{Provider: v.Get("provider"), ReturnURL: v.Get("return_url"), SessionEnded: true}
	if herald.ValidateReturnURL(d.ReturnURL) != nil {
		d.ReturnURL = ""
	}
	if len(d.Provider) > maxProviderName {
		d.Provider = ""
	}
	return d, true
}

// maxProviderName bounds the provider's name read back from a link-origin cookie.
const maxProviderName = 200

// linkEnded is the page a link's visitor sees once the session has ended: the page a
// used link shows, since opening Webhooks again from the provider's app is the only
// way back in. A browser that did not come from a link is sent to sign in.
func (p *portal) linkEnded(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	d, ok := linkOrigin(r)
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if _, ok, _ := p.session(r); ok {
		// A browser whose session still works has nothing to be told.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusGone, "link_gone", nil, "Session ended", d)
}

// followLink signs the visitor in to the tenant of a portal link, once: the store marks
// the link used and stores the session in one transaction, so of two visitors racing
// on one link exactly one gets in. It needs no cookie and no key; a session this browser
// had before is replaced. A used or expired link gets a page that says so and links
// back to the provider's app.
func (p *portal) followLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	tokenHash := herald.HashSessionID(r.PathValue("token"))
	id := herald.NewSessionID()
	now := p.now()
	s := &herald.Session{IDHash: herald.HashSessionID(id), KeyHash: tokenHash, CreatedAt: now, ExpiresAt: now.Add(p.sessionTTL)}
	link, err := p.store.RedeemPortalLink(r.Context(), tokenHash, s)
	switch herald.ErrorCode(err) {
	case "":
	case herald.EGONE:
		p.render(w, r, http.StatusGone, "link_gone", nil, "Link used or expired", p.linkGoneData(r, link))
		return
	case herald.ENOTFOUND:
		p.render(w, r, http.StatusNotFound, "link_gone", nil, "Link used or expired", linkGoneData{Provider: p.branding.Name})
		return
	default:
		p.renderAPIError(w, r, nil, err)
		return
	}
	if old, ok, _ := p.session(r); ok {
		if err := p.store.DeleteSession(r.Context(), old.IDHash); err != nil {
			// The new session's cookie replaces the old one all the same; its row
			// ends at its expiry.
			p.log.ErrorContext(r.Context(), "end the session a portal link replaces", "error", err)
		}
	}
	p.setSessionCookie(w, r, id, s.ExpiresAt, http.SameSiteLaxMode)
	p.setLinkOrigin(w, r, p.linkGoneData(r, link))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// linkGoneData is what the gone page of link shows: its return_url, and the provider's
// name from its tenant's branding over the installation's.
func (p *portal) linkGoneData(r *http.Request, link *herald.PortalLink) linkGoneData {
	d := linkGoneData{ReturnURL: link.ReturnURL, Provider: p.branding.Name}
	if t, err := p.store.Tenant(r.Context(), link.TenantID); err == nil {
		d.Provider = t.Branding.Over(p.branding).Name
	}
	// A tenant that cannot be read leaves the installation's name: the page still
	// says what happened.
	return d
}

// brandFor is the branding v's pages show: its tenant's over the installation's.
func (p *portal) brandFor(v *viewer) herald.Branding {
	if v != nil && v.Tenant != nil {
		return v.Tenant.Branding.Over(p.branding)
	}
	return p.branding
}

// pageBrand is the branding as a page's layout uses it.
type pageBrand struct {
	// Name replaces "Herald" in the header and title.
	Name string
	// Logo is the logo's URL, typed as safe: Branding.Validate allows only https and
	// raster data: URLs, and html/template would otherwise blank every data: URL.
	Logo template.URL
	// CSS is the stylesheet that sets the accent colour, "" for Herald's own.
	CSS string
	// Back names the provider in "← Back to …".
	Back string
}

func newPageBrand(b herald.Branding) pageBrand {
	pb := pageBrand{Name: b.Name, Logo: template.URL(b.LogoURL), Back: b.Name}
	if pb.Name == "" {
		pb.Name = "Herald"
	}
	if pb.Back == "" {
		pb.Back = "the app"
	}
	if b.Color != "" {
		pb.CSS = "/brand.css?accent=" + strings.ToLower(strings.TrimPrefix(b.Color, "#"))
	}
	return pb
}

var accentParam = regexp.MustCompile(`^(?:[0-9a-f]{3}|[0-9a-f]{6})$`)

// serveBrandCSS serves the stylesheet of an accent colour. The colour is in the URL, so
// the page keeps its style-src 'self' (no inline style), the answer can be cached for
// good, and a hex digit is all that can reach the stylesheet.
func (p *portal) serveBrandCSS(w http.ResponseWriter, r *http.Request) {
	accent := r.URL.Query().Get("accent")
	if !accentParam.MatchString(accent) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	// The status is sent: a failed write means the browser went away.
	_, _ = w.Write([]byte(":root { --accent: #" + accent + "; --accent-text: " + textOn(accent) + "; }\n"))
}

// textOn is the colour of text on a background of hex colour c (3 or 6 digits): white on
// dark colours, near-black on light ones, whichever contrasts more (WCAG relative
// luminance), so a light brand colour keeps its buttons readable.
func textOn(c string) string {
	if len(c) == 3 {
		c = string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
	}
	var lum float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(c[2*i:2*i+2], 16, 8)
		if err != nil {
			return "#ffffff" // accentParam admits only hex digits
		}
		x := float64(v) / 255
		if x <= 0.04045 {
			x /= 12.92
		} else {
			x = math.Pow((x+0.055)/1.055, 2.4)
		}
		lum += weight * x
	}
	// Contrast with white is 1.05/(L+0.05), with #1b1f24 (L≈0.014) (L+0.05)/0.064.
	if 1.05/(lum+0.05) >= (lum+0.05)/0.064 {
		return "#ffffff"
	}
	return "#1b1f24"
}
