package httpapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// pageBudget bounds the encoded size of the items of one page of a list of deliveries
// or attempts, and of the deliveries GET /api/v1/events/{id} embeds: a page stops
// before the item that would take it past, so one request cannot make the server
// build a response of tens of megabytes. A page holds at least one item: one delivery
// with its embedded attempts is far below the budget (see SECURITY.md).
const pageBudget = 1 << 20

// withinBudget returns how many of items, from the first, fit in budget bytes of JSON,
// and at least one when there is one.
func withinBudget[T any](items []T, budget int) (int, error) {
	size := 0
	for i := range items {
		b, err := json.Marshal(&items[i])
		if err != nil {
			return 0, fmt.Errorf("measure page: %w", err)
		}
		size += len(b) + 1 // and its comma
		if size > budget && i > 0 {
			return i, nil
		}
	}
	return len(items), nil
}

// pageURL captures the URL of a list request, to link to its next page.
type pageURL struct {
	url url.URL
}

// Resolve keeps the request's URL.
func (p *pageURL) Resolve(ctx huma.Context) []error {
	p.url = ctx.URL()
	return nil
}

// pageLinks are the headers of a page of a list: the total, where the next page starts
// when there is more, and whether the page stopped at its byte budget.
type pageLinks struct {
	TotalCount int
	Link       []string
	Truncated  *bool
}

// paginate fills the headers of a page that skipped offset items, and of which the
// first n of the got items read (per_page asked) are kept.
func (p *pageURL) paginate(offset, perPage, got, n, total int) pageLinks {
	links := pageLinks{TotalCount: total}
	if n < got {
		truncated := true
		links.Truncated = &truncated
	}
	if next := offset + n; next < total {
		u := p.url
		q := u.Query()
		q.Del("page")
		q.Set("offset", strconv.Itoa(next))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		links.Link = []string{fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI())}
	}
	return links
}

// pageOffset is where a page starts: offset when given, else by page number.
func pageOffset(page, perPage, offset int) int {
	if offset > 0 {
		return offset
	}
	return (max(page, 1) - 1) * perPage
}
