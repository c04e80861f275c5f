// Package catalog holds Herald's event types: the type names producers publish, the JSON
// Schema (draft 2020-12) each one's data must match, and a sample payload for each.
//
// A Catalog starts with the 25 built-in types of the two seed products, InfraAudit
// (drift.detected … ping) and Frugally (execution.started … access_request.denied), each
// embedded as schemas/<type>.json with the seed's trigger sentence as its description and
// the seed's example data as its sample, number literals kept byte for byte. Operators add
// custom types with Add (the API) or LoadDir (a directory of <type>.json files).
//
// Validate checks an event's data before it is accepted. Its errors are EINVALID
// *herald.Error values whose message names the failing JSON pointer relative to the
// publish request body ("/data/severity: value must be one of …"), so the HTTP layer can
// return them as they are.
//
// Schemas may only refer to themselves: a $ref (or $schema) that would load anything from
// the network or the file system is refused when the type is added, so validating an
// event never does I/O. Format assertions are on ("date-time", "date", "email" are
// checked, not just annotations).
package catalog
