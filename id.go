package herald

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Id prefixes. Ids are the prefix followed by a ULID, so they are URL-safe and sort by
// creation time (strictly, within one process).
const (
	PrefixEvent    = "evt_"
	PrefixWebhook  = "wh_"
	PrefixDelivery = "del_"
	PrefixTenant   = "team_"
	PrefixAttempt  = "att_"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new time-sortable id with the given prefix.
func NewID(prefix string) string {
	idMu.Lock()
	defer idMu.Unlock()
	return prefix + ulid.MustNew(ulid.Timestamp(time.Now()), idEntropy).String()
}

// Key prefixes tell an admin key from a tenant key at a glance (and to secret scanners).
const (
	PrefixAdminKey  = "hk_admin_"
	PrefixTenantKey = "hk_"
)

// NewAPIKey returns a new random API key with the given prefix: 32 bytes from
// crypto/rand, base64url-encoded.
func NewAPIKey(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashKey returns the digest under which an API key is stored. Keys carry 256 bits of
// entropy, so a plain SHA-256 is enough: there is nothing to brute-force.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return sum[:]
}
