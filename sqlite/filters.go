package sqlite

import "github.com/heraldhq/herald/filter"

// filters evaluates webhooks' content filters at fan-out and replay: the process's one
// Matcher, which the API fills as it accepts filters, so every store and transaction
// shares the compiled programs and a filter is compiled once, then only evaluated.
var filters = filter.Shared
