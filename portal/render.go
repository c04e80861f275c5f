package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald"
)

// pageNames are the templates under templates/, each a page that fills the layout's
// "content" block.
var pageNames = []string{
	"login", "dashboard", "webhooks", "webhook", "webhook_form", "secret", "secret_reveal", "webhook_delete",
	"deliveries", "delivery", "catalog", "event_type", "error", "link_gone",
}

// nav is which section of the navigation a page belongs to.
var nav = map[string]string{
	"dashboard": "dashboard", "webhooks": "webhooks", "webhook": "webhooks", "webhook_form": "webhooks",
	"secret": "webhooks", "secret_reveal": "webhooks", "webhook_delete": "webhooks", "deliveries": "deliveries", "delivery": "deliveries",
	"catalog": "catalog", "event_type": "catalog",
}

// page is what every template renders: the layout's parts and the page's own data.
type page struct {
	Title string
	Nav   string
	V     *viewer
	CSS   string
	JS    string
	HTMX  string
	Brand pageBrand
	D     any
}

func (p *portal) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when":       formatTime,
		"whenp":      func(t *time.Time) string { return formatTimePtr(t) },
		"ago":        func(t *time.Time) string { return ago(p.now(), t) },
		"pretty":     prettyJSON,
		"headers":    headerLines,
		"eventList":  eventList,
		"authMethod": authMethod,
		"has":        func(list []string, s string) bool { return slices.Contains(list, s) },
		"tenantFilter": func(v *viewer, sel string) any {
			return struct {
				V   *viewer
				Sel string
			}{v, sel}
		},
		"statuses": func() []herald.DeliveryStatus {
			return []herald.DeliveryStatus{herald.StatusPending, herald.StatusRetrying, herald.StatusSuccess, herald.StatusFailed}
		},
		"attemptError": herald.AttemptError,
		"destination":  destinationLabel,
		"lastIndex":    func(ticks []tick) int { return len(ticks) - 1 },
		"lastAttempt": func(as []herald.Attempt) *herald.Attempt {
			if len(as) == 0 {
				return nil
			}
			return &as[len(as)-1]
		},
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(files,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("portal: parse template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes page name with data, for viewer v (nil before sign-in).
func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *viewer, title string, data any) {
	brand := p.brandFor(v)
	if origin := brand.LogoOrigin(); origin != "" {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy(p.frameAncestors, origin))
	}
	p.renderTemplate(w, r, status, name, "layout", page{
		Title: title, Nav: nav[name], V: v, D: data, Brand: newPageBrand(brand),
		CSS: p.staticURL("portal.css"), JS: p.staticURL("portal.js"), HTMX: p.staticURL("htmx.min.js"),
	})
}

// renderFragment writes one named template of page name alone, for htmx to swap in.
func (p *portal) renderFragment(w http.ResponseWriter, r *http.Request, name, fragment string, data any) {
	p.renderTemplate(w, r, http.StatusOK, name, fragment, data)
}

func (p *portal) renderTemplate(w http.ResponseWriter, r *http.Request, status int, name, tmpl string, data any) {
	t, ok := p.pages[name]
	if !ok {
		p.log.ErrorContext(r.Context(), "portal: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Rendered to a buffer first, so a template failure becomes a clean 500 rather
	// than half a page.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, data); err != nil {
		p.log.ErrorContext(r.Context(), "portal: render", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status is sent: a failed write means the browser went away.
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// renderError writes the error page with a message safe to show.
func (p *portal) renderError(w http.ResponseWriter, r *http.Request, v *viewer, status int, message string) {
	heading := http.StatusText(status)
	if status == http.StatusNotFound {
		heading = "Not found"
	}
	p.render(w, r, status, "error", v, heading, errorData{Status: status, Heading: heading, Message: message})
}

// renderAPIError writes the error page for a failed API call or store read, both of
// which fail with a domain error: the status its code stands for, with its user-safe
// message; a generic 500 (logged) for anything else.
func (p *portal) renderAPIError(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if herald.ErrorCode(err) == herald.EUNAUTHORIZED {
		p.toSignIn(w, r)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		p.log.WarnContext(r.Context(), "portal request timed out", "path", loggedPath(r), "error", err)
		p.renderError(w, r, v, http.StatusServiceUnavailable, "The database took too long to answer. Try again in a moment.")
		return
	}
	switch code := herald.ErrorCode(err); code {
	case herald.ENOTFOUND:
		p.renderError(w, r, v, http.StatusNotFound, "There is nothing here, or it belongs to another tenant.")
		return
	case herald.EINTERNAL:
		// Not the viewer's to know: the generic page below, and the log.
	default:
		p.renderError(w, r, v, herald.ErrorStatus(code), herald.ErrorMessage(err))
		return
	}
	p.log.ErrorContext(r.Context(), "portal request failed", "path", loggedPath(r), "error", err)
	p.renderError(w, r, v, http.StatusInternalServerError, "Something went wrong on the server. Try again; if it persists, the server's log says why.")
}

func (p *portal) notFoundPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var v *viewer
	if s, ok, _ := p.session(r); ok {
		v, _ = p.identify(r, &viewer{session: s}) // the 404 page shows the navigation only to a valid session
	}
	p.renderError(w, r, v, http.StatusNotFound, "There is no page at this address.")
}

// formatTime shows a time in UTC, to the second: every time in the portal is UTC, as
// the filters' inputs are.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return formatTime(*t)
}

// ago says how long before now t was, roughly.
func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "in " + roughly(-d)
	case d < 5*time.Second:
		return "just now"
	}
	return roughly(d) + " ago"
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// prettyJSON indents JSON for reading; anything else is shown as it is.
func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(raw), "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// headerLine is one header value, for a table.
type headerLine struct{ Name, Value string }

// headerLines lists headers sorted by name, one line per value.
func headerLines(h http.Header) []headerLine {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []headerLine
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, headerLine{Name: k, Value: v})
		}
	}
	return out
}

// eventList describes subscribed event types: every type, or the list.
func eventList(events []string) string {
	if len(events) == 0 || slices.Contains(events, "*") {
		return "All event types"
	}
	return strings.Join(events, ", ")
}

// loggedPath is r's path as the portal's log names it. An unused portal link's token is
// a credential, and a link whose redemption failed is still unused, so a link's path is
// logged without its token.
func loggedPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, herald.PortalLinkPath) {
		return herald.PortalLinkPath + "{token}"
	}
	return r.URL.Path
}
