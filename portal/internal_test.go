package portal

import (
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

// TestPageLinksDoNotOverflow checks the next-page test without the multiplication that
// a page near the largest int would overflow into a negative, "more to come", number.
func TestPageLinksDoNotOverflow(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/webhooks?page=2", nil)
	for _, c := range []struct {
		page, per, total int
		next             bool
	}{
		{1, 20, 0, false}, {1, 20, 20, false}, {1, 20, 21, true}, {2, 20, 40, false}, {2, 20, 41, true},
		{math.MaxInt, 20, 5, false}, {math.MaxInt / 2, 20, 5, false}, {math.MaxInt/20 + 1, 20, math.MaxInt, false},
		{math.MaxInt / 20, 20, math.MaxInt, true},
	} {
		_, next := pageLinks(r, c.page, c.per, c.total)
		if (next != "") != c.next {
			t.Errorf("page %d of %d per page, %d in all: next %q, want one: %v", c.page, c.per, c.total, next, c.next)
		}
		if strings.Contains(next, "page=-") {
			t.Errorf("page %d: next %q is negative", c.page, next)
		}
	}
}

// TestDashboardRefusesAViewerWithoutTenant checks that the dashboard shows every
// tenant's numbers only to a viewer known to be the admin: a viewer that is neither
// the admin nor has a tenant is refused, not shown all.
func TestDashboardRefusesAViewerWithoutTenant(t *testing.T) {
	t.Parallel()
	p := &portal{log: slog.New(slog.DiscardHandler), clock: herald.SystemClock{}}
	var err error
	if p.pages, err = p.parseTemplates(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*viewer{{}, {Tenant: &herald.Tenant{}}} {
		rec := httptest.NewRecorder()
		p.dashboard(rec, httptest.NewRequest(http.MethodGet, "/", nil), v) // p.stats is nil: a query would panic
		if rec.Code != http.StatusForbidden {
			t.Errorf("viewer %+v: dashboard %d, want 403", v, rec.Code)
		}
	}
}
