// Package wire turns an event and a webhook into the exact HTTP request Herald sends, and
// says what happens when it fails, for each of the three formats Herald speaks:
//
//   - infraaudit: {"event","timestamp","webhook_id","delivery_id","data"}, signed in
//     X-InfraAudit-Signature: sha256=<hex HMAC-SHA256 of the raw body>.
//   - frugally: {"id","type","timestamp","team_id","data"}, signed in
//     X-Frugally-Signature: sha256=<hex HMAC-SHA256 of the raw body>.
//   - standard: {"type","timestamp","data"}, signed per Standard Webhooks 1.0 in
//     webhook-id, webhook-timestamp and webhook-signature: v1,<base64>.
//
// Build renders one attempt; Policy (from DefaultPolicy) holds a format's retry schedule,
// timeout and auto-disable rules, and NextDelay applies them, Retry-After included.
//
// The package is pure logic: no I/O, no clock of its own (callers pass now and the random
// number that drives jitter), so every rule is tested without a network or sleeping.
package wire
