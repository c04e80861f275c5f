// Package webhook is the receiver library for endpoints that Herald delivers to: it
// verifies a request's signature, parses its envelope into an Event, decodes the event's
// data into a typed struct, remembers the deliveries it handled so a retried delivery is
// handled once, and wraps all of it in an http.Handler. It imports only the standard
// library.
//
// A delivery is remembered (Deduper.Done) only after it was handled successfully: a
// receiver that fails, or dies, while handling it leaves it unremembered, and Herald's
// retry is handled. Herald delivers at least once, and a Handler handles at least once:
// now and then a delivery is handled twice (Deduper's doc says when). Make handling
// idempotent where a repeat would hurt.
//
// Herald speaks three wire formats, and a receiver is configured with the one its
// webhook was registered with:
//
//   - infraaudit: body {"event","timestamp","webhook_id","delivery_id","data"}, signed in
//     X-InfraAudit-Signature: sha256=<hex HMAC-SHA256 of the raw body>, the key being the
//     secret string itself, whsec_ prefix included. Dedupe on delivery_id.
//   - frugally: body {"id","type","timestamp","team_id","data"}, signed the same way in
//     X-Frugally-Signature. Dedupe on id, the event id.
//   - standard: Standard Webhooks 1.0. Body {"type","timestamp","data"}; headers
//     webhook-id (the event id, the dedupe key), webhook-timestamp (Unix seconds) and
//     webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256>" entries
//     (key: the base64-decoded secret after whsec_) and "v1a,<base64 ed25519 signature>"
//     entries, over "<webhook-id>.<webhook-timestamp>.<body>".
//
// During a secret rotation Herald signs with both secrets: two webhook-signature
// entries for standard; for the sha256= formats the main header keeps the old secret and
// X-InfraAudit-Signature-Next or X-Frugally-Signature-Next carries the new one. Give the
// Verifier both secrets while the rotation lasts.
//
// Herald also sends Content-Digest (RFC 9530) with every request. Verify uses it only to
// explain a signature mismatch: if the body still matches its digest the secret is wrong
// (ErrWrongSecret); if not, something changed the body on its way (ErrBodyChanged).
//
// The simplest receiver is a Handler:
//
//	v, err := webhook.NewVerifier(webhook.FormatStandard, os.Getenv("HERALD_SECRET"))
//	if err != nil { ... }
//	h := webhook.NewHandler(v, webhook.NewMemoryDeduper(0))
//	webhook.On(h, webhook.TypeDriftDetected, func(ctx context.Context, e *webhook.Event, d *webhook.DriftDetected) error {
//		return alert(ctx, d.ResourceName, d.Summary)
//	})
//	http.Handle("POST /webhooks/herald", h)
//
// Always verify the raw bytes of the body as received: a framework that parses and
// re-serialises JSON changes them, and the signature no longer matches.
package webhook
