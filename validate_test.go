package herald_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestSessionAndPortalLinkValidate(t *testing.T) {
	t.Parallel()
	h := []byte("hash")
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	sessions := []struct {
		name string
		s    herald.Session
		ok   bool
	}{
		{"tenant", herald.Session{IDHash: h, KeyHash: h, TenantID: "team_a"}, true},
		{"admin", herald.Session{IDHash: h, KeyHash: h, Admin: true}, true},
		{"read-only link", herald.Session{IDHash: h, KeyHash: h, TenantID: "team_a", Link: true, ReadOnly: true}, true},
		{"no id hash", herald.Session{KeyHash: h, TenantID: "team_a"}, false},
		{"no key hash", herald.Session{IDHash: h, TenantID: "team_a"}, false},
		{"neither admin nor tenant", herald.Session{IDHash: h, KeyHash: h}, false},
		{"admin and tenant", herald.Session{IDHash: h, KeyHash: h, Admin: true, TenantID: "team_a"}, false},
		{"admin by link", herald.Session{IDHash: h, KeyHash: h, Admin: true, Link: true}, false},
	}
	for _, tt := range sessions {
		if err := tt.s.Validate(); (err == nil) != tt.ok {
			t.Errorf("session %s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		} else if err != nil && herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("session %s: code %s, want %s", tt.name, herald.ErrorCode(err), herald.EINVALID)
		}
	}
	links := []struct {
		name string
		l    herald.PortalLink
		ok   bool
	}{
		{"valid", herald.PortalLink{TokenHash: h, TenantID: "team_a", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}, true},
		{"no token", herald.PortalLink{TenantID: "team_a", CreatedAt: at, ExpiresAt: at.Add(time.Minute)}, false},
		{"no tenant", herald.PortalLink{TokenHash: h, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}, false},
		{"expires at creation", herald.PortalLink{TokenHash: h, TenantID: "team_a", CreatedAt: at, ExpiresAt: at}, false},
	}
	for _, tt := range links {
		if err := tt.l.Validate(); (err == nil) != tt.ok {
			t.Errorf("link %s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
