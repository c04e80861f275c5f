package storetest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// testBounded: what a delivery stores stays bounded however often it is retried and
// whatever its receiver answers, the same in every store.
func testBounded(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("KeepsFirstAndLastAttempts", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		const n = 30
		for i := range n {
			if out := fail(t, st, "w1", id, t0.Add(time.Duration(i)*time.Minute), time.Time{}); out.Number != i+1 {
				t.Fatalf("attempt %d recorded as number %d", i+1, out.Number)
			}
		}
		as, total, err := st.Attempts(t.Context(), herald.AttemptFilter{DeliveryID: id, PerPage: 100})
		ok(t, err, "attempts")
		var numbers []int
		for _, a := range as {
			numbers = append(numbers, a.Number)
		}
		var want []int
		for i := n; i > n-herald.KeepLastAttempts; i-- {
			want = append(want, i)
		}
		for i := herald.KeepFirstAttempts; i >= 1; i-- {
			want = append(want, i)
		}
		if total != len(want) || !slices.Equal(numbers, want) {
			t.Fatalf("stored attempts %v (total %d), want the last %d and first %d, newest first: %v",
				numbers, total, herald.KeepLastAttempts, herald.KeepFirstAttempts, want)
		}
		d := getDelivery(t, st, id)
		if d.AttemptCount != n || d.AttemptsDropped != n-len(want) {
			t.Errorf("delivery: %d attempts, %d dropped; want %d, %d", d.AttemptCount, d.AttemptsDropped, n, n-len(want))
		}
		var embedded []int
		for _, a := range d.Attempts {
			embedded = append(embedded, a.Number)
		}
		if !slices.Equal(embedded, []int{26, 27, 28, 29, 30}) {
			t.Errorf("delivery embeds attempts %v, want the latest %d oldest first: [26 27 28 29 30]", embedded, herald.MaxEmbeddedAttempts)
		}
		ds, _, err := st.Deliveries(t.Context(), herald.DeliveryFilter{EventID: d.EventID})
		ok(t, err, "deliveries")
		if len(ds) != 1 || len(ds[0].Attempts) != herald.MaxEmbeddedAttempts || ds[0].AttemptsDropped != d.AttemptsDropped {
			t.Errorf("delivery list: %d deliveries, the first with %d attempts; want 1 with %d", len(ds), len(ds[0].Attempts), herald.MaxEmbeddedAttempts)
		}
		// Pages, and an offset in place of a page.
		page2, _, err := st.Attempts(t.Context(), herald.AttemptFilter{DeliveryID: id, Page: 2, PerPage: 10})
		ok(t, err, "attempts page 2")
		offset, _, err := st.Attempts(t.Context(), herald.AttemptFilter{DeliveryID: id, Offset: 10, PerPage: 10, Page: 7})
		ok(t, err, "attempts at offset 10")
		if len(page2) != 10 || page2[0].Number != 20 || len(offset) != 10 || offset[0].ID != page2[0].ID {
			t.Errorf("page 2 starts at %v, offset 10 at %v; want both attempt 20", page2, offset)
		}
		if as, total, err := st.Attempts(t.Context(), herald.AttemptFilter{DeliveryID: "del_none"}); err != nil || total != 0 || len(as) != 0 {
			t.Errorf("attempts of no delivery: %d, total %d, %v; want none", len(as), total, err)
		}
	})

	t.Run("BoundedAttemptText", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		tenant := addTenant(t, st)
		addWebhook(t, st, tenant)
		id := publishEvent(t, st, tenant, "drift.detected", t0)[0]
		a := attempt(id, t0, false)
		a.ResponseHeaders = http.Header{"Content-Type": {"text/plain"}}
		for i := range 60 {
			a.ResponseHeaders.Set("X-Pad-"+strings.Repeat("x", i), strings.Repeat("v", 1000))
		}
		a.ResponseBody = strings.Repeat("a", herald.MaxResponseBody-1) + "é\x00"
		a.Error = strings.Repeat("e", 4*herald.MaxAttemptError)
		record(t, st, herald.AttemptRecord{Owner: "w1", Attempt: a})
		got := getDelivery(t, st, id).Attempts[0]
		want := herald.DecideAttempt(&herald.AttemptRecord{Attempt: a}, herald.AttemptState{}, t0).Attempt
		if got.ResponseBody != want.ResponseBody || got.Error != want.Error {
			t.Errorf("stored body of %d bytes and error of %d; want %d and %d, as herald.DecideAttempt cuts them",
				len(got.ResponseBody), len(got.Error), len(want.ResponseBody), len(want.Error))
		}
		if n := herald.HeaderBytes(got.ResponseHeaders); got.ResponseHeaders.Get(herald.TruncatedHeader) == "" ||
			n > herald.MaxResponseHeaderBytes+100 || got.ResponseHeaders.Get("Content-Type") != "text/plain" {
			t.Errorf("stored response headers of %d bytes, marker %q; want at most %d with the marker and Content-Type",
				n, got.ResponseHeaders.Get(herald.TruncatedHeader), herald.MaxResponseHeaderBytes)
		}
		if len(got.ResponseHeaders) != len(want.ResponseHeaders) {
			t.Errorf("stored %d response headers, want %d", len(got.ResponseHeaders), len(want.ResponseHeaders))
		}
	})

	t.Run("DeliveriesOffset", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		tenant := addTenant(t, st)
		w := addWebhook(t, st, tenant)
		for i := range 5 {
			publishEvent(t, st, tenant, "drift.detected", t0.Add(time.Duration(i)*time.Second))
		}
		all, _, err := st.Deliveries(t.Context(), herald.DeliveryFilter{WebhookID: w.ID})
		ok(t, err, "deliveries")
		rest, total, err := st.Deliveries(t.Context(), herald.DeliveryFilter{WebhookID: w.ID, Offset: 3, Page: 4, PerPage: 2})
		ok(t, err, "deliveries at offset 3")
		if total != 5 || len(rest) != 2 || rest[0].ID != all[3].ID || rest[1].ID != all[4].ID {
			t.Errorf("offset 3: %d deliveries of %d, want the 4th and 5th of 5", len(rest), total)
		}
	})
}
