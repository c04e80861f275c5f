package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func testKeyRotation(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("WithoutGrace", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		id, other := addTenant(t, st), addTenant(t, st)
		now := time.Now().UTC()
		ok(t, st.RotateTenantKey(ctx, id, herald.HashKey("new-key"), time.Time{}), "rotate without grace")
		_, err := st.TenantByKeyHash(ctx, herald.HashKey(id), now)
		wantCode(t, err, herald.ENOTFOUND, "the replaced key, no grace")
		got, err := st.TenantByKeyHash(ctx, herald.HashKey("new-key"), now)
		ok(t, err, "the new key")
		if got.ID != id {
			t.Errorf("the new key finds %q, want %q", got.ID, id)
		}
		if got, err := st.TenantByKeyHash(ctx, herald.HashKey(other), now); err != nil || got.ID != other {
			t.Errorf("another tenant's key after a rotation: %v, %v; want it unchanged", got, err)
		}
		// A grace period in the past is none.
		ok(t, st.RotateTenantKey(ctx, id, herald.HashKey("newer-key"), now.Add(-time.Minute)), "rotate with a past grace")
		_, err = st.TenantByKeyHash(ctx, herald.HashKey("new-key"), now.Add(-2*time.Minute))
		wantCode(t, err, herald.ENOTFOUND, "a key replaced with a grace already over")
	})

	t.Run("GraceEnds", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		id := addTenant(t, st)
		now := time.Now().UTC().Truncate(time.Microsecond)
		ends := now.Add(time.Hour)
		ok(t, st.RotateTenantKey(ctx, id, herald.HashKey("new-key"), ends), "rotate with an hour's grace")
		for _, c := range []struct {
			key  string
			at   time.Time
			want bool
		}{
			{id, now, true},
			{id, ends.Add(-time.Microsecond), true},
			{id, ends, false},
			{id, ends.Add(time.Hour), false},
			{"new-key", now, true},
			{"new-key", ends.Add(time.Hour), true},
		} {
			got, err := st.TenantByKeyHash(ctx, herald.HashKey(c.key), c.at)
			switch {
			case c.want && (err != nil || got.ID != id):
				t.Errorf("key %q at grace end %+v: %v, %v; want tenant %s", c.key, c.at.Sub(ends), got, err, id)
			case !c.want && herald.ErrorCode(err) != herald.ENOTFOUND:
				t.Errorf("key %q at grace end %+v: %v, %v; want ENOTFOUND", c.key, c.at.Sub(ends), got, err)
			}
		}

		// A second rotation ends the first one's grace at once: only the key it
		// replaces is previous.
		ok(t, st.RotateTenantKey(ctx, id, herald.HashKey("third-key"), ends), "rotate again")
		_, err := st.TenantByKeyHash(ctx, herald.HashKey(id), now)
		wantCode(t, err, herald.ENOTFOUND, "the key two rotations ago")
		if got, err := st.TenantByKeyHash(ctx, herald.HashKey("new-key"), now); err != nil || got.ID != id {
			t.Errorf("the key one rotation ago, in its grace: %v, %v", got, err)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		a, b := addTenant(t, st), addTenant(t, st)
		wantCode(t, st.RotateTenantKey(ctx, "team_nobody", herald.HashKey("k"), time.Time{}), herald.ENOTFOUND, "rotate a missing tenant")
		wantCode(t, st.RotateTenantKey(ctx, a, herald.HashKey(b), time.Time{}), herald.ECONFLICT, "rotate to another tenant's key")
		ok(t, st.RotateTenantKey(ctx, b, herald.HashKey("b-new"), time.Now().Add(time.Hour)), "rotate b with grace")
		wantCode(t, st.RotateTenantKey(ctx, a, herald.HashKey(b), time.Time{}), herald.ECONFLICT, "rotate to another tenant's previous key")
		err := st.CreateTenant(ctx, &herald.Tenant{ID: "team_c", Name: "C", CreatedAt: t0}, herald.HashKey(b))
		wantCode(t, err, herald.ECONFLICT, "create a tenant with another's previous key")
		if got, err := st.TenantByKeyHash(ctx, herald.HashKey(a), time.Now()); err != nil || got.ID != a {
			t.Errorf("a refused rotation changed the key: %v, %v", got, err)
		}
	})
}

func testSessions(t *testing.T, open func(t *testing.T) herald.Store) {
	st := open(t)
	ctx := t.Context()
	tenant, other := addTenant(t, st), addTenant(t, st)
	newSession := func(tenantID string, created time.Time) (*herald.Session, string) {
		id := herald.NewSessionID()
		s := &herald.Session{IDHash: herald.HashSessionID(id), Admin: tenantID == "", TenantID: tenantID,
			KeyHash: herald.HashKey("key of " + tenantID), CreatedAt: created, ExpiresAt: created.Add(12 * time.Hour)}
		ok(t, st.CreateSession(ctx, s), "create session")
		return s, id
	}
	alive := func(s *herald.Session, at time.Time) bool {
		t.Helper()
		got, err := st.Session(ctx, s.IDHash, at)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return false
		}
		ok(t, err, "session")
		if !bytes.Equal(got.IDHash, s.IDHash) || got.Admin != s.Admin || got.TenantID != s.TenantID || !bytes.Equal(got.KeyHash, s.KeyHash) {
			t.Errorf("session = %+v, want %+v", got, s)
		}
		wantTime(t, "session created_at", &got.CreatedAt, &s.CreatedAt)
		wantTime(t, "session expires_at", &got.ExpiresAt, &s.ExpiresAt)
		return true
	}

	admin, _ := newSession("", t0)
	mine, _ := newSession(tenant, t0)
	theirs, _ := newSession(other, t0)
	if !alive(admin, t0) || !alive(mine, t0) || !alive(theirs, t0) {
		t.Fatal("a new session is not found")
	}
	if alive(mine, mine.ExpiresAt) || !alive(mine, mine.ExpiresAt.Add(-time.Microsecond)) {
		t.Error("a session must last until, and not at, its expiry")
	}
	_, err := st.Session(ctx, herald.HashSessionID("not a session"), t0)
	wantCode(t, err, herald.ENOTFOUND, "unknown session")
	wantCode(t, st.CreateSession(ctx, mine), herald.ECONFLICT, "a session id used twice")
	bad := &herald.Session{IDHash: herald.HashSessionID(herald.NewSessionID()), TenantID: "team_nobody",
		KeyHash: herald.HashKey("k"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantCode(t, st.CreateSession(ctx, bad), herald.ENOTFOUND, "a session of no tenant")

	// Signing out ends one session.
	ok(t, st.DeleteSession(ctx, admin.IDHash), "delete session")
	ok(t, st.DeleteSession(ctx, admin.IDHash), "delete a deleted session")
	if alive(admin, t0) {
		t.Error("a deleted session is still found")
	}

	// Rotating a tenant's key ends its sessions, even with a grace period, and no others.
	second, _ := newSession(tenant, t0)
	ok(t, st.RotateTenantKey(ctx, tenant, herald.HashKey("rotated"), time.Now().Add(time.Hour)), "rotate key")
	if alive(mine, t0) || alive(second, t0) {
		t.Error("a session outlived its tenant's key rotation")
	}
	if !alive(theirs, t0) {
		t.Error("another tenant's key rotation ended this tenant's session")
	}

	// Deleting a tenant ends its sessions.
	fresh, _ := newSession(tenant, t0)
	ok(t, st.DeleteTenant(ctx, tenant), "delete tenant")
	if alive(fresh, t0) {
		t.Error("a session outlived its tenant")
	}
	if !alive(theirs, t0) {
		t.Error("deleting a tenant ended another tenant's session")
	}

	// Expired sessions are purged at the next sign-in: the row is gone, so even a
	// lookup at an earlier time no longer finds it.
	newSession(other, theirs.ExpiresAt.Add(time.Minute))
	if alive(theirs, t0) {
		t.Error("a session expired before a sign-in was not purged by it")
	}
}
