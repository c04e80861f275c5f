package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/heraldhq/herald"
)

// principal is who a request acts as: the admin, or one tenant.
type principal struct {
	admin  bool
	tenant *herald.Tenant // nil for the admin
	// link is set for a portal session begun by a portal link rather than a key.
	link bool
	// readOnly is set for a read-only portal link's session: only reads are admitted.
	readOnly bool
}

type principalKey struct{}

// caller returns the principal the authenticate middleware put in ctx.
func caller(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// security is the requirement every authenticated operation declares: either scheme.
var security = []map[string][]string{{"bearer": {}}, {"apiKey": {}}}

// adminOnly marks operations a tenant key may not call (403), in Operation.Metadata.
const adminOnly = "herald-admin-only"

// keyOnly marks operations that need an API key (the admin's or the tenant's own): a
// portal link's session may not call them (403), so a customer in the portal can
// neither rotate the provider's key for it nor mint links that outlive its session.
const keyOnly = "herald-key-only"

// authenticate resolves the API key of every operation that declares security, refusing
// a missing or unknown key (401) and a tenant key on an admin-only operation (403), both
// before the body is read.
//
// The key is looked up first (a hash compared, or one indexed read), so that a valid
// key is never charged to, nor refused by, its client address's bucket of failed
// authentications: many users behind one proxy or NAT share an address, and one of
// them guessing must not lock the others out. Only an unknown key spends a token of
// that bucket, and is answered 429 once it is empty, which keeps guessing slow.
//
// A request the portal makes in-process for a signed-in browser carries the session
// instead of a key (herald.WithSession) and acts as the key the session was signed in
// with, charged to that key's limit.
func (s *server) authenticate(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	if len(op.Security) == 0 {
		next(ctx)
		return
	}
	now := s.clock.Now()
	// In-process work that has paid for this request already (one portal page making
	// several calls) is not charged again. The mark is a context value, which no
	// client can set.
	spent := herald.RateLimitSpent(ctx.Context())
	if sess, ok := herald.SessionFrom(ctx.Context()); ok {
		// A portal session, which the portal read from the store: it acts as the key
		// it was signed in with, without the key.
		p, err := s.sessionPrincipal(ctx.Context(), sess)
		if err != nil {
			s.refuse(ctx, err)
			return
		}
		s.admit(ctx, op, p, sess.KeyHash, spent, now, next)
		return
	}
	key, ok := apiKey(ctx.Header("Authorization"), ctx.Header("X-API-Key"))
	if !ok {
		s.refuse(ctx, herald.Errorf(herald.EUNAUTHORIZED, "%s", missingKey(ctx.Header("Authorization"))))
		return
	}
	hash := herald.HashKey(key)
	var p principal
	if len(s.adminHash) > 0 && subtle.ConstantTimeCompare(hash, s.adminHash) == 1 {
		p.admin = true
	} else {
		lookup, cancel := s.withStoreTimeout(ctx.Context())
		t, err := s.store.TenantByKeyHash(lookup, hash, now)
		cancel()
		switch {
		case herald.ErrorCode(err) == herald.ENOTFOUND:
			r, _ := humago.Unwrap(ctx)
			if wait, ok := s.failRate.take(clientAddr(r), now); !ok {
				s.refuse(ctx, limited(wait, "with invalid API keys from this address", s.limits.AuthFailures, s.failRate.burst))
				return
			}
			s.refuse(ctx, herald.Errorf(herald.EUNAUTHORIZED, "invalid API key"))
			return
		case err != nil:
			s.refuse(ctx, toAPIError(lookup, s.log, err))
			return
		}
		p.tenant = t
	}
	s.admit(ctx, op, p, hash, spent, now, next)
}

// sessionPrincipal is who a portal session acts as: the admin while the admin key is
// the one it was signed in with, or its tenant while the key it was signed in with still
// works, so a session begun with a key in a rotation's grace period ends with it.
func (s *server) sessionPrincipal(ctx context.Context, sess *herald.Session) (principal, error) {
	if sess.Admin {
		if len(s.adminHash) == 0 || subtle.ConstantTimeCompare(sess.KeyHash, s.adminHash) != 1 {
			return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "the session's key is no longer the admin key: sign in again")
		}
		return principal{admin: true}, nil
	}
	lookup, cancel := s.withStoreTimeout(ctx)
	defer cancel()
	if sess.Link {
		// A link's session has no key: it acts as its tenant while the tenant exists.
		// Rotating the tenant's key or deleting the tenant deletes the session row.
		t, err := s.store.Tenant(lookup, sess.TenantID)
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "the tenant of this portal session no longer exists")
		}
		if err != nil {
			return principal{}, toAPIError(lookup, s.log, err)
		}
		return principal{tenant: t, link: true, readOnly: sess.ReadOnly}, nil
	}
	t, err := s.store.TenantByKeyHash(lookup, sess.KeyHash, s.clock.Now())
	if herald.ErrorCode(err) == herald.ENOTFOUND || err == nil && t.ID != sess.TenantID {
		return principal{}, herald.Errorf(herald.EUNAUTHORIZED, "the key this session began with no longer works: sign in again")
	}
	if err != nil {
		return principal{}, toAPIError(lookup, s.log, err)
	}
	return principal{tenant: t}, nil
}

// admit charges an authenticated request to its key's rate limit (keyed by the key's
// hash, not the tenant: a tenant's old and new keys during a rotation's grace are
// separate clients), refuses a tenant on an admin-only operation, and runs next.
func (s *server) admit(ctx huma.Context, op *huma.Operation, p principal, hash []byte, spent bool, now time.Time, next func(huma.Context)) {
	if p.admin {
		if !spent {
			if wait, ok := s.adminRate.take("admin", now); !ok {
				s.refuse(ctx, limited(wait, "for the admin key", s.limits.Admin, s.adminRate.burst))
				return
			}
		}
	} else {
		if !spent {
			if wait, ok := s.tenantRate.take(string(hash), now); !ok {
				s.refuse(ctx, limited(wait, "for this API key", s.limits.Tenant, s.tenantRate.burst))
				return
			}
		}
	}
	if admin, _ := op.Metadata[adminOnly].(bool); admin && !p.admin {
		s.refuse(ctx, herald.Errorf(herald.EFORBIDDEN, "this operation needs the admin key"))
		return
	}
	if p.readOnly && op.Method != http.MethodGet && op.Method != http.MethodHead {
		s.refuse(ctx, herald.Errorf(herald.EFORBIDDEN, "this portal session is read-only: it can see everything and change nothing"))
		return
	}
	if key, _ := op.Metadata[keyOnly].(bool); key && p.link {
		s.refuse(ctx, herald.Errorf(herald.EFORBIDDEN, "a portal link's session cannot do this: it needs an API key"))
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// missingKey says why a request with this Authorization header carries no API key: a
// key sent without its scheme is the most common mistake, and "missing" alone would not
// say what to fix.
func missingKey(authorization string) string {
	const how = "send Authorization: Bearer <key> or X-API-Key: <key>"
	scheme, key, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	switch {
	case scheme == "":
		return "missing API key: " + how
	case strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(key) == "":
		return "the Authorization header says Bearer but has no key after it: " + how
	case key == "":
		return `the Authorization header has no "Bearer " before the key: send Authorization: Bearer <key>`
	}
	// The scheme is not echoed: a client that put its key first would see it in the
	// answer, and in any log of it.
	return "the Authorization header's scheme is not Bearer: " + how
}

// apiKey returns the key from an Authorization: Bearer header or, failing that, an
// X-API-Key header.
func apiKey(authorization, xAPIKey string) (string, bool) {
	if authorization != "" {
		scheme, key, _ := strings.Cut(strings.TrimSpace(authorization), " ")
		key = strings.TrimSpace(key)
		if strings.EqualFold(scheme, "Bearer") && key != "" {
			return key, true
		}
	}
	if key := strings.TrimSpace(xAPIKey); key != "" {
		return key, true
	}
	return "", false
}

// refuse answers a request from middleware, before any handler ran.
func (s *server) refuse(ctx huma.Context, err error) {
	e := toAPIError(ctx.Context(), s.log, err)
	_, w := humago.Unwrap(ctx)
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	writeError(w, e)
}

// sees reports whether p may see a resource of tenantID.
func (p principal) sees(tenantID string) bool {
	return p.admin || (p.tenant != nil && p.tenant.ID == tenantID)
}

// visible passes on the result of looking up one thing of kind what for p: the thing if
// p may see it, and the same 404 whether it does not exist or is another tenant's, so a
// tenant key learns nothing of other tenants' ids.
func visible[T any](p principal, what, id string, v *T, tenantOf func(*T) string, err error) (*T, error) {
	if err == nil && !p.sees(tenantOf(v)) {
		err = herald.Errorf(herald.ENOTFOUND, "not found")
	}
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return nil, herald.Errorf(herald.ENOTFOUND, "%s %q not found", what, id)
	}
	return v, err
}

// scope is the tenant a list is filtered to: the tenant key's own tenant, or what the
// admin asked for ("" for all).
func (p principal) scope(requested string) (string, error) {
	if p.admin {
		return requested, nil
	}
	if p.tenant == nil {
		return "", herald.Errorf(herald.EUNAUTHORIZED, "missing API key")
	}
	if requested != "" && requested != p.tenant.ID {
		return "", herald.Errorf(herald.EFORBIDDEN, "a tenant key acts on its own tenant only: leave tenant_id out")
	}
	return p.tenant.ID, nil
}

// owner is the tenant a new resource belongs to: the tenant key's own, or for the admin
// the one named (which must exist) or the default tenant.
func (s *server) owner(ctx context.Context, p principal, requested string) (string, error) {
	if !p.admin {
		return p.scope(requested)
	}
	if requested == "" || requested == herald.DefaultTenantID {
		return herald.DefaultTenantID, nil
	}
	if _, err := s.store.Tenant(ctx, requested); err != nil {
		if herald.ErrorCode(err) == herald.ENOTFOUND {
			return "", invalid("tenant_id", "tenant_id %q names no tenant", requested)
		}
		return "", err
	}
	return requested, nil
}
