// Package notice tells people about Herald's own operational events (herald.Notice):
// a webhook disabled by its format's auto-disable rule or through the API, a webhook
// enabled again, a delivery whose retries ran out.
//
// A Sender delivers each notice two ways, each optional:
//
//   - To the operator, as a webhook: the notice is published through the store as an
//     event of the reserved tenant herald.OpsTenantID, targeted at the operator webhook
//     (OpsWebhookID) that EnsureOpsWebhook keeps in line with the configuration. It is
//     therefore durable once published, signed in that webhook's format and retried by
//     the dispatcher like any other delivery. Notices about the operator webhook itself
//     are dropped, so a failing operator endpoint cannot feed on its own notices.
//   - To the webhook's owner, by email to its tenant's NotifyEmail over SMTP (STARTTLS
//     when the server offers it, PLAIN authentication when the URL has credentials).
//     Emails leave from a bounded queue drained by the Sender's own goroutine (Run), so
//     the dispatcher and the API never wait for a mail server; when the queue is full a
//     notice is not emailed, and that is logged.
//
// Notices are raised after the change they describe is committed, not in the same
// transaction: a crash between the two loses the notice, never the change.
package notice
