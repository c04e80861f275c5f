// Package portal is Herald's web portal: pages rendered on the server with
// html/template, enhanced by htmx where a script helps (an inline test result) and
// working without one. Everything it serves is embedded in the binary, so it needs no
// CDN and no build step, and works offline.
//
// The portal keeps no business logic of its own. Every page reads and every form acts
// through Herald's REST API, called in-process with the signed-in key, so a tenant sees
// and changes exactly what the API lets its key see and change, with the same
// validation and the same 404 for another tenant's ids. Only what the API has no route
// for comes from the store: the dashboard's numbers (Store.DeliveryStats, scoped to the
// key's tenant, kept 15 s per tenant and shared by concurrent loads), the webhook list's
// success rates (Store.DeliveryOutcomes, one query per page) and the admin's sending of
// a catalog sample to one webhook. A page's first API call is charged to the key's rate
// limit; its later calls carry herald.WithRateLimitSpent, so a page costs one request.
//
// Sessions live in the browser: a cookie holding the API key and an expiry, sealed with
// the server's herald.Cipher, so any number of Herald processes behind one load
// balancer accept it. The key is checked through the API on every request, so a
// deleted tenant's session ends at once; the admin is the key whose hash is
// Config.AdminKeyHash, never a guess from what the API answers. Cookies are HttpOnly
// and SameSite=Strict, and Secure when the request came over TLS or through a proxy
// that says it did (X-Forwarded-Proto: https). Sessions cannot be revoked server-side
// before they expire, except by deleting the tenant (or changing the admin key).
//
// Every response carries a strict Content-Security-Policy (no inline script or style:
// the charts are SVG drawn with classes), and every form is checked with
// net/http.CrossOriginProtection, which refuses a cross-origin POST.
package portal
