// Package filter compiles and evaluates webhooks' content filters: CEL expressions
// (https://cel.dev) over an event's type, data, channels and tenant_id.
//
// A filter is checked when a webhook is created or updated: Compile refuses one that
// does not parse, does not type-check, cannot be a bool, or whose worst-case cost on
// the largest event Herald accepts is beyond MaxEstimatedCost (nested loops over the
// payload, say); CheckFields refuses one that reads a field of data that no subscribed
// type's JSON Schema has. At fan-out a Matcher evaluates each filter with a runtime cost
// limit (CostLimit), so no filter can stall publishing; an evaluation that fails (a
// missing field, a type mismatch, the cost limit) or yields anything but a bool does
// not match. Compiled programs are cached by their text, so evaluating a filter costs
// no parse or check after the first time.
package filter
