// Package portal is Herald's web portal: pages rendered on the server with
// html/template, enhanced by htmx where a script helps (an inline test result) and
// working without one. Everything it serves is embedded in the binary, so it needs no
// CDN and no build step, and works offline.
//
// The portal keeps no business logic of its own. Every page reads and every form acts
// through Herald's REST API, called in-process as the signed-in session, so a tenant sees
// and changes exactly what the API lets its key see and change, with the same
// validation and the same 404 for another tenant's ids. Only what the API has no route
// for comes from the store: the dashboard's numbers (Store.DeliveryStats, scoped to the
// key's tenant, kept 15 s per tenant and shared by concurrent loads), the webhook list's
// success rates (Store.DeliveryOutcomes, one query per page) and the admin's sending of
// a catalog sample to one webhook. A page's first API call is charged to the key's rate
// limit; its later calls carry herald.WithRateLimitSpent, so a page costs one request.
//
// A webhook's page says how to verify its requests: the guide and the receivers in Go,
// Python and Node.js that receivercode renders for its format, the same text the
// examples' tests run against real deliveries. Its secret is shown again only from a
// confirmation page, by a POST to the API's reveal-secret route.
//
// Sessions live in the store (herald.Session), so they can be ended at once: signing
// out deletes the session, rotating a tenant's key or deleting the tenant deletes all of
// its sessions, and changing the admin key ends the admin's. The cookie holds only a
// random id; the store holds its SHA-256, so neither the cookie nor a copy of the
// database holds an API key, and every Herald process sharing the database accepts
// every session. Signing in checks the key through the API (and its limit on failed
// authentications); after that the portal calls the API with the session in the
// request's context (herald.WithSession), which the API accepts only in-process, as the
// key the session began with. The admin is the session begun with the key whose hash is
// Config.AdminKeyHash, never a guess from what the API answers. Cookies are HttpOnly
// and SameSite=Strict; when the request came over TLS, or through a proxy that says it
// did (X-Forwarded-Proto: https), they are Secure and named with the __Host- prefix.
// Sessions last 12 hours; expired rows are removed at each sign-in.
//
// A portal link (herald.PortalLink, minted through the API) signs its visitor in to one
// tenant with no key, once: GET /links/{token} redeems it in the store, which marks it
// used in the same transaction that stores the session. That session acts as its tenant
// (the API decides what it may do, and refuses every write of a read-only one); its
// cookie is SameSite=Lax, as the visitor arrives from the provider's site. With
// Config.FrameAncestors the portal may be framed by exactly those origins, and every
// session cookie is SameSite=None; Secure; Partitioned, so it works in a third-party
// iframe where third-party cookies are blocked. Branding (the installation's, under a
// tenant's) names the portal, sets its logo and, through /brand.css, its accent colour.
//
// Every response carries a strict Content-Security-Policy (no inline script or style:
// the charts are SVG drawn with classes), and every form is checked with
// net/http.CrossOriginProtection, which refuses a cross-origin POST.
package portal
