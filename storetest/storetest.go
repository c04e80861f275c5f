// Package storetest is the contract suite every herald.Store passes: the sqlite and
// postgres packages run it from their tests with a real database.
//
// The suite is black-box: it uses only herald.Store's methods, so what it checks is the
// contract written in herald's store.go, rule by rule, and nothing of one backend's
// schema.
package storetest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// Run runs the contract suite against stores made by open (a fresh, empty store per
// call). open is called from parallel subtests; it registers the store's cleanup itself
// (t.Cleanup) and fails t if it cannot open one.
func Run(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) herald.Store)
	}{
		{"Settings", testSettings},
		{"Tenants", testTenants},
		{"KeyRotation", testKeyRotation},
		{"Sessions", testSessions},
		{"PortalLinks", testPortalLinks},
		{"Branding", testBranding},
		{"EventTypes", testEventTypes},
		{"Webhooks", testWebhooks},
		{"EndpointAuth", testEndpointAuth},
		{"Publish", testPublish},
		{"Claims", testClaims},
		{"Ordering", testOrdering},
		{"RecordAttempt", testRecordAttempt},
		{"Deliveries", testDeliveries},
		{"DisableRaces", testDisableRaces},
		{"Backlog", testBacklog},
		{"Retention", testRetention},
		{"DeliveryStats", testDeliveryStats},
		{"Bounded", testBounded},
		{"Routing", testRouting},
		{"BrokerURLs", testBrokerURLs},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, open)
		})
	}
}

// Cipher is a herald.Cipher for tests: AES-256-GCM under a fixed, public key. It keeps
// secrets out of a plain grep of the database and nothing more; never use it to protect
// anything.
type Cipher struct{}

var _ herald.Cipher = Cipher{}

var cipherKey = []byte("herald storetest fixed key 32 by")

func (Cipher) aead() cipher.AEAD {
	block, err := aes.NewCipher(cipherKey)
	if err != nil {
		panic("storetest: " + err.Error()) // the key is a constant of the right length
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic("storetest: " + err.Error()) // GCM accepts every AES block
	}
	return gcm
}

// Seal encrypts plaintext under a random nonce, which it puts in front.
func (c Cipher) Seal(plaintext []byte) ([]byte, error) {
	gcm := c.aead()
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, nil), nil
}

// Open decrypts what Seal returned.
func (c Cipher) Open(ciphertext []byte) ([]byte, error) {
	gcm := c.aead()
	if len(ciphertext) < gcm.NonceSize() {
		return nil, errors.New("storetest cipher: ciphertext too short")
	}
	n := gcm.NonceSize()
	return gcm.Open(nil, ciphertext[:n], ciphertext[n:], nil)
}

// t0 is the suite's reference time: whole seconds, so every backend stores it exactly,
// and in the past, so times the store takes from its own clock come after it.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// wantCode fails t unless err carries the herald error code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := herald.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (err %v), want %q", what, got, err, code)
	}
}

// ok fails t if err is not nil.
func ok(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantTime fails t unless got is want (nil for none), in UTC.
func wantTime(t *testing.T, what string, got *time.Time, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	case !got.Equal(*want) || got.Location() != time.UTC:
		t.Errorf("%s = %v, want %v in UTC", what, *got, *want)
	}
}

func ptr[T any](v T) *T { return &v }

// jsonEqual reports whether a and b are the same JSON value, whatever their spacing.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// addTenant creates a tenant with a new id and returns it.
func addTenant(t *testing.T, st herald.Store) string {
	t.Helper()
	id := herald.NewID(herald.PrefixTenant)
	ok(t, st.CreateTenant(t.Context(), &herald.Tenant{ID: id, Name: "Tenant " + id, CreatedAt: t0}, herald.HashKey(id)), "create tenant")
	return id
}

// webhookOption changes a webhook before addWebhook stores it.
type webhookOption func(*herald.Webhook)

// subscribed makes the webhook subscribe to types only.
func subscribed(types ...string) webhookOption {
	return func(w *herald.Webhook) { w.Events = types }
}

// disabled stores the webhook disabled.
func disabled(w *herald.Webhook) { w.Enabled = false }

// createdAt sets the webhook's creation time.
func createdAt(at time.Time) webhookOption {
	return func(w *herald.Webhook) { w.CreatedAt, w.UpdatedAt = at, at }
}

// addWebhook stores an enabled webhook of tenant that subscribes to everything, changed
// by opts, and returns it.
func addWebhook(t *testing.T, st herald.Store, tenant string, opts ...webhookOption) *herald.Webhook {
	t.Helper()
	w := &herald.Webhook{
		ID:        herald.NewID(herald.PrefixWebhook),
		TenantID:  tenant,
		Name:      "receiver",
		URL:       "https://receiver.example/hook",
		Enabled:   true,
		Format:    herald.FormatStandard,
		Secret:    herald.NewSecret(),
		CreatedAt: t0,
		UpdatedAt: t0,
	}
	for _, o := range opts {
		o(w)
	}
	ok(t, st.CreateWebhook(t.Context(), w), "create webhook")
	return w
}

// newEvent is an event of tenant and type, accepted at.
func newEvent(tenant, typ string, at time.Time) herald.Event {
	return herald.Event{
		ID:        herald.NewID(herald.PrefixEvent),
		TenantID:  tenant,
		Type:      typ,
		Data:      json.RawMessage(`{"resource":"vm-1","severity":"high"}`),
		Timestamp: at.Truncate(time.Second),
		CreatedAt: at,
	}
}

// publish publishes ps and fails t on error.
func publish(t *testing.T, st herald.Store, ps ...herald.Publication) []herald.PublishResult {
	t.Helper()
	rs, err := st.Publish(t.Context(), ps)
	ok(t, err, "publish")
	if len(rs) != len(ps) {
		t.Fatalf("publish %d publications: %d results", len(ps), len(rs))
	}
	return rs
}

// publishEvent publishes one new event of tenant and type at at, and returns its
// delivery ids.
func publishEvent(t *testing.T, st herald.Store, tenant, typ string, at time.Time) []string {
	t.Helper()
	return publish(t, st, herald.Publication{Event: newEvent(tenant, typ, at)})[0].DeliveryIDs
}

// ping publishes a ping to webhook w only and returns its delivery id.
func ping(t *testing.T, st herald.Store, w *herald.Webhook, at time.Time) string {
	t.Helper()
	r := publish(t, st, herald.Publication{Event: newEvent(w.TenantID, herald.PingType, at), Target: w.ID})[0]
	if len(r.DeliveryIDs) != 1 {
		t.Fatalf("ping: %d deliveries, want 1", len(r.DeliveryIDs))
	}
	return r.DeliveryIDs[0]
}

// getDelivery returns a delivery and fails t if it cannot.
func getDelivery(t *testing.T, st herald.Store, id string) *herald.Delivery {
	t.Helper()
	d, err := st.Delivery(t.Context(), id)
	ok(t, err, "delivery "+id)
	return d
}

// getWebhook returns a webhook and fails t if it cannot.
func getWebhook(t *testing.T, st herald.Store, id string) *herald.Webhook {
	t.Helper()
	w, err := st.Webhook(t.Context(), id)
	ok(t, err, "webhook "+id)
	return w
}

// claim runs ClaimDue for owner at now with a 30 s lease and returns the delivery ids.
func claim(t *testing.T, st herald.Store, owner string, now time.Time, limit int, skip ...string) []string {
	t.Helper()
	cs, err := st.ClaimDue(t.Context(), herald.ClaimRequest{
		Owner: owner, Now: now, LeaseUntil: now.Add(30 * time.Second), Limit: limit, SkipWebhooks: skip,
	})
	ok(t, err, "claim due")
	return claimIDs(cs)
}

func claimIDs(cs []herald.Claim) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Delivery.ID
	}
	return ids
}

// attempt is a finished attempt of delivery id at at: a 200 if success, a 500 if not.
func attempt(id string, at time.Time, success bool) herald.Attempt {
	a := herald.Attempt{
		DeliveryID:      id,
		At:              at,
		StatusCode:      500,
		DurationMS:      12,
		Error:           "HTTP 500",
		RequestHeaders:  map[string][]string{"Webhook-Id": {id}},
		ResponseHeaders: map[string][]string{"Content-Type": {"text/plain"}},
		ResponseBody:    "oops",
	}
	if success {
		a.Success, a.StatusCode, a.Error, a.ResponseBody = true, 200, "", "ok"
	}
	return a
}

// record applies r and fails t on error.
func record(t *testing.T, st herald.Store, r herald.AttemptRecord) herald.AttemptOutcome {
	t.Helper()
	out, err := st.RecordAttempt(t.Context(), &r)
	ok(t, err, "record attempt")
	return out
}

// fail records a failed attempt of delivery id at at, retried at next (or finished as
// failed when next is zero), by owner.
func fail(t *testing.T, st herald.Store, owner, id string, at, next time.Time) herald.AttemptOutcome {
	t.Helper()
	r := herald.AttemptRecord{Owner: owner, Attempt: attempt(id, at, false), Status: herald.StatusFailed}
	if !next.IsZero() {
		r.Status, r.NextAttemptAt = herald.StatusPending, next
	}
	return record(t, st, r)
}

// succeed records a successful attempt of delivery id at at by owner.
func succeed(t *testing.T, st herald.Store, owner, id string, at time.Time) herald.AttemptOutcome {
	t.Helper()
	return record(t, st, herald.AttemptRecord{Owner: owner, Attempt: attempt(id, at, true), Status: herald.StatusSuccess})
}
