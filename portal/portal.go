package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// Config is what the portal needs. API and Store are required; without AdminKeyHash no
// key is the admin in the portal.
type Config struct {
	// API is Herald's REST API handler. The portal calls it in-process for everything
	// it shows and does, with the signed-in key.
	API http.Handler
	// Store keeps the sessions, and answers what the API has no route for: the
	// dashboard's numbers and a tenant key's own tenant.
	Store herald.Store
	// AdminKeyHash is herald.HashKey of the admin key, the one the API is given: the
	// portal treats a session as the admin's only when its key has this hash.
	AdminKeyHash []byte
	// Wake, when set, tells the dispatcher a catalog sample was queued, so it is sent
	// now rather than at the next poll.
	Wake func()
	// SessionTTL is how long a sign-in lasts; default 12 hours.
	SessionTTL time.Duration
	// Clock defaults to herald.SystemClock.
	Clock herald.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// FrameAncestors are the origins (https://app.example.com) whose pages may embed
	// the portal in an iframe: they go into the CSP's frame-ancestors, and the session
	// cookie becomes SameSite=None; Secure; Partitioned so it works in a third-party
	// frame. Empty, no page may frame the portal ('none').
	FrameAncestors []string
	// Branding is the installation's name, accent colour and logo; a tenant's own
	// branding overrides it field by field. It must pass Branding.Validate.
	Branding herald.Branding
}

// DefaultSessionTTL is how long a sign-in lasts unless Config says otherwise.
const DefaultSessionTTL = 12 * time.Hour

// ContentSecurityPolicy is sent with every response of a portal with no FrameAncestors
// and no https logo: only Herald's own scripts, styles and images, no inline script or
// style, no framing, forms posted only to Herald.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// contentSecurityPolicy is ContentSecurityPolicy with the origins that may frame the
// portal and the origin of an https logo. Both are validated origins (scheme, host and
// port only), so neither can add a directive.
func contentSecurityPolicy(frameAncestors []string, logoOrigin string) string {
	img := "'self' data:"
	if logoOrigin != "" {
		img += " " + logoOrigin
	}
	frame := "'none'"
	if len(frameAncestors) > 0 {
		frame = strings.Join(frameAncestors, " ")
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img + "; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors " + frame + "; base-uri 'none'"
}

// ValidOrigin reports whether s is a bare origin, scheme://host[:port] with no path,
// query or credentials, for FrameAncestors and a public URL. http is accepted, for
// development on localhost.
func ValidOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " ;,'\"\\") {
		return fmt.Errorf("%q is not an origin: want scheme://host[:port], such as https://app.example.com", s)
	}
	return nil
}

//go:embed templates static
var files embed.FS

// portal holds the dependencies; its methods are the page handlers.
type portal struct {
	api          http.Handler
	store        herald.Store
	adminKeyHash []byte
	wake         func()
	sessionTTL   time.Duration
	clock        herald.Clock
	log          *slog.Logger
	stats        *statsCache

	frameAncestors []string
	branding       herald.Branding

	pages  map[string]*template.Template
	static map[string]staticFile
}

// New returns the portal's handler, to be mounted at / of Herald's server. It fails
// only when Config lacks a required dependency or an embedded template is broken.
func New(cfg Config) (http.Handler, error) {
	if cfg.API == nil || cfg.Store == nil {
		return nil, errors.New("portal: Config needs API and Store")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = herald.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	ancestors := make([]string, 0, len(cfg.FrameAncestors))
	for _, o := range cfg.FrameAncestors {
		if err := ValidOrigin(o); err != nil {
			return nil, fmt.Errorf("portal: frame ancestor: %w", err)
		}
		ancestors = append(ancestors, strings.TrimSuffix(o, "/"))
	}
	if err := cfg.Branding.Validate(); err != nil {
		return nil, fmt.Errorf("portal: branding: %w", err)
	}
	p := &portal{
		api: cfg.API, store: cfg.Store, adminKeyHash: bytes.Clone(cfg.AdminKeyHash), wake: cfg.Wake,
		sessionTTL: cfg.SessionTTL, clock: cfg.Clock, log: cfg.Logger,
		frameAncestors: ancestors, branding: cfg.Branding,
	}
	p.stats = newStatsCache(cfg.Store, cfg.Clock)
	var err error
	if p.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if p.pages, err = p.parseTemplates(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/{name}", p.serveStatic)
	mux.HandleFunc("GET /brand.css", p.serveBrandCSS)
	mux.HandleFunc("GET "+herald.PortalLinkPath+"{token}", p.followLink)
	mux.HandleFunc("GET "+linkEndedPath, p.linkEnded)
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /logout", p.logout)

	mux.Handle("GET /{$}", p.signedIn(p.dashboard))
	mux.Handle("GET /webhooks", p.signedIn(p.webhooksPage))
	mux.Handle("GET /webhooks/new", p.signedIn(p.newWebhookPage))
	mux.Handle("POST /webhooks", p.signedIn(p.createWebhook))
	mux.Handle("GET /webhooks/{id}", p.signedIn(p.webhookPage))
	mux.Handle("GET /webhooks/{id}/edit", p.signedIn(p.editWebhookPage))
	mux.Handle("POST /webhooks/{id}", p.signedIn(p.updateWebhook))
	mux.Handle("POST /webhooks/{id}/enable", p.signedIn(p.setEnabled(true)))
	mux.Handle("POST /webhooks/{id}/disable", p.signedIn(p.setEnabled(false)))
	mux.Handle("GET /webhooks/{id}/delete", p.signedIn(p.deleteWebhookPage))
	mux.Handle("POST /webhooks/{id}/delete", p.signedIn(p.deleteWebhook))
	mux.Handle("POST /webhooks/{id}/test", p.signedIn(p.testWebhook))
	mux.Handle("POST /webhooks/{id}/rotate-secret", p.signedIn(p.rotateSecret))
	mux.Handle("GET /webhooks/{id}/reveal-secret", p.signedIn(p.revealSecretPage))
	mux.Handle("POST /webhooks/{id}/reveal-secret", p.signedIn(p.revealSecret))
	mux.Handle("POST /webhooks/{id}/recover", p.signedIn(p.recoverWebhook))
	mux.Handle("POST /webhooks/{id}/replay", p.signedIn(p.replayWebhook))
	mux.Handle("POST /webhooks/filter-test", p.signedIn(p.filterTest))
	mux.Handle("GET /deliveries", p.signedIn(p.deliveriesPage))
	mux.Handle("GET /deliveries/{id}", p.signedIn(p.deliveryPage))
	mux.Handle("POST /deliveries/{id}/retry", p.signedIn(p.retryDelivery))
	mux.Handle("POST /deliveries/{id}/skip", p.signedIn(p.skipDelivery))
	mux.Handle("GET /catalog", p.signedIn(p.catalogPage))
	mux.Handle("GET /catalog/{type}", p.signedIn(p.eventTypePage))
	mux.Handle("POST /catalog/{type}/send", p.signedIn(p.sendSample))
	mux.HandleFunc("/", p.notFoundPage)

	// Cross-origin protection refuses state-changing requests another site makes the
	// browser send (Sec-Fetch-Site, else Origin against Host): the portal's forms need
	// no token. SameSite=Strict cookies are a second line.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(p.forbiddenCrossOrigin))
	return p.securityHeaders(csrf.Handler(mux)), nil
}

// securityHeaders sets the headers every portal response carries. X-Frame-Options has
// no list form, so it is left out when some origins may frame the portal: the CSP's
// frame-ancestors says which.
func (p *portal) securityHeaders(next http.Handler) http.Handler {
	csp := contentSecurityPolicy(p.frameAncestors, "")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if len(p.frameAncestors) == 0 {
			h.Set("X-Frame-Options", "DENY")
		}
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// forbiddenCrossOrigin answers a request refused by the cross-origin check.
func (p *portal) forbiddenCrossOrigin(w http.ResponseWriter, r *http.Request) {
	p.log.WarnContext(r.Context(), "portal refused a cross-origin request", "method", r.Method, "path", loggedPath(r),
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	p.renderError(w, r, nil, http.StatusForbidden, "This form was sent from another site, so it was refused. Open the page in Herald and send it again.")
}

// staticFile is one embedded asset with the hash that versions its URL.
type staticFile struct {
	body        []byte
	hash        string
	contentType string
}

// loadStatic reads the embedded assets and hashes each.
func loadStatic() (map[string]staticFile, error) {
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, fmt.Errorf("portal: read static files: %w", err)
	}
	out := make(map[string]staticFile, len(entries))
	for _, e := range entries {
		body, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("portal: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		ct := "text/plain; charset=utf-8"
		switch path.Ext(e.Name()) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		out[e.Name()] = staticFile{body: body, hash: hex.EncodeToString(sum[:8]), contentType: ct}
	}
	return out, nil
}

// staticURL is an asset's URL with its content hash, so it can be cached for good:
// a new build that changes the file changes the URL.
func (p *portal) staticURL(name string) string {
	f, ok := p.static[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.hash
}

func (p *portal) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := p.static[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := `"` + f.hash + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", f.contentType)
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// The status is sent: a failed write means the browser went away.
	_, _ = w.Write(f.body)
}

// now is the portal's clock in UTC.
func (p *portal) now() time.Time { return p.clock.Now().UTC() }
