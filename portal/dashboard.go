package portal

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
)

// dashboardWindow is how far back the dashboard looks.
const dashboardWindow = time.Hour

type dashboardData struct {
	Stats  *herald.DeliveryStats
	Chart  chart
	Tenant string
	// Rate is the window's share of successful attempts as a percentage, -1 without
	// attempts.
	Rate      int
	PerMinute string
}

// dashboard shows the last hour: attempts per minute by outcome, latency, what is
// pending and which endpoints fail. The API has no route for these numbers, so they come
// from the store, scoped to the key's tenant (or, for the admin, the one chosen).
//
// An empty tenant means every tenant's numbers, so it is allowed only to a viewer known
// to be the admin: a tenant viewer is always scoped to its own tenant, and a viewer
// without one is refused rather than shown everyone's.
func (p *portal) dashboard(w http.ResponseWriter, r *http.Request, v *viewer) {
	tenant := tenantFilter(r, v)
	if !v.Admin {
		if v.Tenant == nil || v.Tenant.ID == "" {
			p.log.ErrorContext(r.Context(), "portal: a non-admin viewer without a tenant asked for the dashboard")
			p.renderError(w, r, v, http.StatusForbidden, "This key may not see the dashboard.")
			return
		}
		tenant = v.Tenant.ID
	}
	until := p.now().Truncate(time.Minute).Add(time.Minute)
	since := until.Add(-dashboardWindow)
	st, err := p.stats.get(r.Context(), herald.StatsFilter{TenantID: tenant, Since: since, Until: until})
	if err != nil {
		p.renderAPIError(w, r, v, err)
		return
	}
	d := dashboardData{Stats: st, Chart: attemptsChart(st.Minutes, since, until), Tenant: tenantFilter(r, v), Rate: -1}
	if n := st.Succeeded + st.Failed; n > 0 {
		d.Rate = st.Succeeded * 100 / n
	}
	d.PerMinute = fmt.Sprintf("%.1f", float64(st.Succeeded+st.Failed)/dashboardWindow.Minutes())
	p.render(w, r, http.StatusOK, "dashboard", v, "Dashboard", d)
}

// chart is a stacked bar chart of attempts per minute, drawn as SVG by the template
// with classes only (the Content-Security-Policy allows no inline style).
type chart struct {
	Width, Height                   int
	Left, Right, Top, Bottom        float64
	Bars                            []bar
	YTicks                          []tick
	XTicks                          []tick
	Summary                         string
	Empty                           bool
	LegendOKX, LegendFailX, LegendY float64
}

// bar is one minute: the successful attempts at the bottom, the failed ones on top.
type bar struct {
	X, W         float64
	OKY, OKH     float64
	FailY, FailH float64
	Title        string
}

// tick is one labelled line of an axis.
type tick struct {
	Pos   float64
	Label string
}

// attemptsChart lays out one bar per minute of [since, until).
func attemptsChart(minutes []herald.MinuteStats, since, until time.Time) chart {
	c := chart{Width: 720, Height: 240, Left: 44, Right: 710, Top: 28, Bottom: 212}
	c.LegendY, c.LegendOKX, c.LegendFailX = 14, c.Left, c.Left+110
	n := int(until.Sub(since) / time.Minute)
	byMinute := make(map[int64]herald.MinuteStats, len(minutes))
	peak, total, failed := 0, 0, 0
	for _, m := range minutes {
		byMinute[m.Minute.Unix()] = m
		peak = max(peak, m.Succeeded+m.Failed)
		total += m.Succeeded + m.Failed
		failed += m.Failed
	}
	top := niceCeil(max(peak, 4))
	plotH := c.Bottom - c.Top
	slot := (c.Right - c.Left) / float64(n)
	for i := range n {
		at := since.Add(time.Duration(i) * time.Minute)
		m := byMinute[at.Unix()]
		okH := plotH * float64(m.Succeeded) / float64(top)
		failH := plotH * float64(m.Failed) / float64(top)
		c.Bars = append(c.Bars, bar{
			X: round1(c.Left + float64(i)*slot + slot*0.1), W: round1(slot * 0.8),
			OKY: round1(c.Bottom - okH), OKH: round1(okH),
			FailY: round1(c.Bottom - okH - failH), FailH: round1(failH),
			Title: fmt.Sprintf("%s UTC: %d succeeded, %d failed", at.Format("15:04"), m.Succeeded, m.Failed),
		})
		if i%15 == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: round1(c.Left + float64(i)*slot), Label: at.Format("15:04")})
		}
	}
	c.XTicks = append(c.XTicks, tick{Pos: c.Right, Label: until.Format("15:04")})
	for i := 0; i <= 4; i++ {
		c.YTicks = append(c.YTicks, tick{Pos: round1(c.Bottom - plotH*float64(i)/4), Label: fmt.Sprint(top * i / 4)})
	}
	c.Empty = total == 0
	c.Summary = fmt.Sprintf("Attempts per minute from %s to %s UTC: %d in all, %d failed.",
		since.Format("15:04"), until.Format("15:04"), total, failed)
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten, times 4 (the grid has four
// lines), so every gridline has a round label.
func niceCeil(n int) int {
	step := float64(n) / 4
	pow := math.Pow(10, math.Floor(math.Log10(step)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*pow >= step {
			return int(math.Ceil(f*pow)) * 4
		}
	}
	return n
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
