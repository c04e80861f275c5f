package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testPortalLinks(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("RedeemOnce", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		token := herald.NewSessionID()
		link := &herald.PortalLink{TokenHash: herald.HashSessionID(token), TenantID: tenant, ReadOnly: true,
			ReturnURL: "https://app.example.com/settings", CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}
		ok(t, st.CreatePortalLink(ctx, link), "create portal link")
		wantCode(t, st.CreatePortalLink(ctx, link), herald.ECONFLICT, "a link token used twice")
		wantCode(t, st.CreatePortalLink(ctx, &herald.PortalLink{TokenHash: herald.HashSessionID("x"), TenantID: "team_nobody",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}), herald.ENOTFOUND, "a link of no tenant")

		at := t0.Add(time.Minute)
		s := linkSession(link.TokenHash, at)
		got, err := st.RedeemPortalLink(ctx, link.TokenHash, s)
		ok(t, err, "redeem")
		if got.TenantID != tenant || !got.ReadOnly || got.ReturnURL != link.ReturnURL {
			t.Errorf("redeemed link = %+v, want %+v", got, link)
		}
		if s.TenantID != tenant || !s.Link || !s.ReadOnly || s.Admin || s.ReturnURL != link.ReturnURL {
			t.Errorf("the session was not given the link's tenant and scope: %+v", s)
		}
		stored, err := st.Session(ctx, s.IDHash, at)
		ok(t, err, "the link's session")
		if stored.TenantID != tenant || !stored.Link || !stored.ReadOnly || stored.ReturnURL != link.ReturnURL {
			t.Errorf("stored session = %+v, want a read-only link session of %s returning to %s", stored, tenant, link.ReturnURL)
		}

		// A second use is EGONE, with the link (for where to go back to), and no session.
		second := linkSession(link.TokenHash, at)
		got, err = st.RedeemPortalLink(ctx, link.TokenHash, second)
		wantCode(t, err, herald.EGONE, "a link followed twice")
		if got == nil || got.ReturnURL != link.ReturnURL || got.UsedAt == nil {
			t.Errorf("a used link's redemption returned %+v, want the link with its return_url and used_at", got)
		}
		if _, err := st.Session(ctx, second.IDHash, at); herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Errorf("a used link began a session: %v", err)
		}
		_, err = st.RedeemPortalLink(ctx, herald.HashSessionID("no such token"), linkSession(nil, at))
		wantCode(t, err, herald.ENOTFOUND, "an unknown link")
	})

	t.Run("Expiry", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		link := &herald.PortalLink{TokenHash: herald.HashSessionID(herald.NewSessionID()), TenantID: tenant,
			CreatedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}
		ok(t, st.CreatePortalLink(ctx, link), "create portal link")
		got, err := st.RedeemPortalLink(ctx, link.TokenHash, linkSession(link.TokenHash, link.ExpiresAt))
		wantCode(t, err, herald.EGONE, "a link followed at its expiry")
		if got == nil || got.UsedAt != nil {
			t.Errorf("an expired link = %+v, want it returned unused", got)
		}
		// Still known a while after expiry; purged when a later link is made.
		later := link.ExpiresAt.Add(herald.PortalLinkKept)
		ok(t, st.CreatePortalLink(ctx, &herald.PortalLink{TokenHash: herald.HashSessionID(herald.NewSessionID()), TenantID: tenant,
			CreatedAt: later, ExpiresAt: later.Add(time.Minute)}), "a later link")
		_, err = st.RedeemPortalLink(ctx, link.TokenHash, linkSession(link.TokenHash, t0))
		wantCode(t, err, herald.ENOTFOUND, "a link purged a day after its expiry")
	})

	t.Run("ConcurrentRedemptions", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		link := &herald.PortalLink{TokenHash: herald.HashSessionID(herald.NewSessionID()), TenantID: tenant,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		ok(t, st.CreatePortalLink(ctx, link), "create portal link")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = st.RedeemPortalLink(ctx, link.TokenHash, linkSession(link.TokenHash, t0.Add(time.Second)))
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch herald.ErrorCode(err) {
			case "":
				won++
			case herald.EGONE:
			default:
				t.Errorf("a concurrent redemption failed with %v, want success or EGONE", err)
			}
		}
		if won != 1 {
			t.Errorf("%d of %d concurrent redemptions of one link succeeded, want exactly 1", won, n)
		}
	})

	t.Run("EndWithTheTenantsKey", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		tenant := addTenant(t, st)
		link := &herald.PortalLink{TokenHash: herald.HashSessionID(herald.NewSessionID()), TenantID: tenant,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		ok(t, st.CreatePortalLink(ctx, link), "create portal link")
		s := linkSession(link.TokenHash, t0)
		_, err := st.RedeemPortalLink(ctx, link.TokenHash, s)
		ok(t, err, "redeem")
		unused := &herald.PortalLink{TokenHash: herald.HashSessionID(herald.NewSessionID()), TenantID: tenant,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		ok(t, st.CreatePortalLink(ctx, unused), "create a second portal link")
		ok(t, st.RotateTenantKey(ctx, tenant, herald.HashKey("rotated"), time.Time{}), "rotate the tenant's key")
		_, err = st.Session(ctx, s.IDHash, t0)
		wantCode(t, err, herald.ENOTFOUND, "a link's session after its tenant's key rotation")
		_, err = st.RedeemPortalLink(ctx, unused.TokenHash, linkSession(unused.TokenHash, t0))
		if err == nil {
			t.Error("a portal link minted before its tenant's key rotation still signs in after it")
		}
	})
}

// linkSession is a session for RedeemPortalLink to fill in, begun at at.
func linkSession(tokenHash []byte, at time.Time) *herald.Session {
	if tokenHash == nil {
		tokenHash = herald.HashSessionID("token")
	}
	return &herald.Session{IDHash: herald.HashSessionID(herald.NewSessionID()), KeyHash: tokenHash,
		CreatedAt: at, ExpiresAt: at.Add(12 * time.Hour)}
}

func testBranding(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	brand := herald.Branding{Name: "Acme Cloud", Color: "#0a7", LogoURL: "https://cdn.example.com/logo.png"}
	created := &herald.Tenant{ID: "team_branded", Name: "Branded", Branding: brand, CreatedAt: t0}
	ok(t, st.CreateTenant(ctx, created, herald.HashKey("branded")), "create a branded tenant")
	got, err := st.Tenant(ctx, created.ID)
	ok(t, err, "read it")
	if got.Branding != brand {
		t.Errorf("branding = %+v, want %+v", got.Branding, brand)
	}
	got.Name, got.NotifyEmail, got.Branding = "Renamed", "ops@example.com", herald.Branding{Color: "#123456"}
	ok(t, st.UpdateTenant(ctx, got), "update tenant")
	again, err := st.TenantByKeyHash(ctx, herald.HashKey("branded"), t0)
	ok(t, err, "read by key")
	if again.Name != "Renamed" || again.NotifyEmail != "ops@example.com" || again.Branding != (herald.Branding{Color: "#123456"}) {
		t.Errorf("after update the tenant is %+v", again)
	}
	wantCode(t, st.UpdateTenant(ctx, &herald.Tenant{ID: "team_nobody", Name: "x"}), herald.ENOTFOUND, "update a missing tenant")
}
