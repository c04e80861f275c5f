package postgres_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestSkipTenantsBehindABacklog puts a skipped tenant's backlog, spread over more webhooks
// than a claim reads rows in due order, in front of another tenant's one delivery: the
// claim finds nothing it may take in order and asks webhook by webhook, and there too
// the skipped tenant's deliveries must not fill the rows it reads.
func TestSkipTenantsBehindABacklog(t *testing.T) {
	t.Parallel()
	s := open(t, freshSchema(t))
	ws := addWebhooks(t, s, 20) // team_a's
	var ps []herald.Publication
	for i := range 4 {
		ps = append(ps, events(1, at.Add(time.Duration(i)*time.Millisecond))...)
	}
	if _, err := s.Publish(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	mine := &herald.Webhook{TenantID: "team_b", Name: "r", URL: "https://r.example", Enabled: true,
		Format: herald.FormatStandard, Secret: herald.NewSecret(), CreatedAt: at, UpdatedAt: at}
	if err := s.CreateWebhook(t.Context(), mine); err != nil {
		t.Fatal(err)
	}
	late := events(1, at.Add(time.Second))
	late[0].Event.TenantID = "team_b"
	if _, err := s.Publish(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	now := at.Add(time.Minute)
	cs, err := s.ClaimDue(t.Context(), herald.ClaimRequest{Owner: "w1", Now: now, LeaseUntil: now.Add(time.Minute),
		Limit: 4, PerWebhook: 4, SkipTenants: []string{"team_a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Webhook.ID != mine.ID {
		var got []string
		for _, c := range cs {
			got = append(got, c.Webhook.ID)
		}
		t.Errorf("claimed deliveries to %v, want only the one to %s behind %d of a skipped tenant's webhooks", got, mine.ID, len(ws))
	}
}
