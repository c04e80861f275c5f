package herald

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Session is a portal sign-in, kept by the store so that it can be ended at once: by
// signing out, by rotating the tenant's key, or by deleting the tenant. The browser
// holds only the session's random id; the store holds the id's hash, so a copy of the
// database opens no session.
type Session struct {
	// IDHash is HashSessionID of the id the browser's cookie holds.
	IDHash []byte
	// Admin is true for a session signed in with the admin key, which acts for every
	// tenant; TenantID is then "".
	Admin bool
	// TenantID is the tenant a tenant key's session acts for.
	TenantID string
	// KeyHash is HashKey of the key signed in with: the session is charged to that key's
	// rate limit, and an admin session ends when the admin key is changed. A session begun
	// by a portal link has no key; KeyHash is then the link's token hash, so each link's
	// session has a rate limit of its own.
	KeyHash []byte
	// Link is true for a session begun by a PortalLink rather than a key: it acts as its
	// tenant for as long as the tenant exists, until it expires or the tenant's key is
	// rotated, and may not mint links nor rotate the key.
	Link bool
	// ReadOnly sessions see everything and change nothing: the API refuses every
	// request of theirs that is not a read. Only a link begins one.
	ReadOnly bool
	// ReturnURL is the link's return_url, where the portal offers to send the visitor
	// back to.
	ReturnURL string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewSessionID returns a new random session id for a cookie: 32 bytes from
// crypto/rand, base64url-encoded.
func NewSessionID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSessionID returns the digest under which a session id is stored. Ids carry 256
// bits of entropy, so a plain SHA-256 is enough.
func HashSessionID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// sessionKey carries a Session in a context.
type sessionKey struct{}

// WithSession returns ctx carrying s, for in-process calls to the API made on behalf of a
// portal session: the API then acts as the session's principal without an API key. Like
// WithRateLimitSpent it lives only in contexts, so nothing outside the process can set
// it; the portal sets it only on sessions it read from the store.
func WithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the Session WithSession put in ctx, if any.
func SessionFrom(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok && s != nil
}

// Validate refuses a session a store could hold but nothing could use: it needs an id
// hash, a key hash, and either the admin flag or a tenant, and only a tenant's session
// can come from a link or be read-only.
func (s *Session) Validate() error {
	if len(s.IDHash) == 0 || len(s.KeyHash) == 0 || s.Admin != (s.TenantID == "") || (s.Admin && (s.Link || s.ReadOnly)) {
		return Errorf(EINVALID, "a session needs an id hash, a key hash, and either the admin flag or a tenant; only a tenant's session can be a link's")
	}
	return nil
}
