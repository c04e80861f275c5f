// Package receivercode renders ready-to-paste webhook receivers, in Go (on Herald's
// receiver library, webhook), Python and Node.js (standard library only), for one
// webhook's format and signing: the portal's "How to verify" shows them, and the
// examples' tests run exactly the text it renders as receivers of real deliveries.
//
// Each receiver reads the webhook's secret from WEBHOOK_SECRET (during a rotation the
// old and the new one, separated by a space) and the port from PORT (default 8000),
// prints "listening on <port>" once it listens, verifies every request's signature on
// the raw body before parsing it, prints "verified type=<type> key=<dedupe key>" and
// answers 200 for a request Herald signed, and "rejected status=<status>" with a 4xx
// for any other. The code names the format's headers and how its key is made from the
// secret: for infraaudit and frugally the whole whsec_ string, prefix included, is the
// HMAC key as it is; for standard, the bytes the base64 after whsec_ decodes to.
//
// The receivers hold no secret: the secret stays out of source code, in the
// environment, so a receiver can be committed and the secret rotated without editing it.
package receivercode
