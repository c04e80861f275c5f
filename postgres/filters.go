package postgres

import "github.com/heraldhq/herald/filter"

// filters evaluates webhooks' content filters at fan-out and replay. It is one for the
// process, so every store and transaction shares the compiled programs: a filter is
// compiled once, then only evaluated.
var filters = filter.NewMatcher()
