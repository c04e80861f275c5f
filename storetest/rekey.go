package storetest

import (
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/secretbox"
)

// Database opens stores on one database, each with the cipher given; every store it
// opens is closed when t ends. RunReseal needs several stores on one database, under
// different keys, which Run's fresh store per call cannot give.
type Database func(t *testing.T, c herald.Cipher) herald.Store

// RunReseal runs the contract of ResealSecrets, rotating the encryption key of a
// database. newDatabase makes a new, empty database per call and returns its opener.
func RunReseal(t *testing.T, newDatabase func(t *testing.T) Database) {
	t.Helper()
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, db Database)
	}{
		{"ResealsEverySecretUnderTheNewKey", testResealEverySecret},
		{"ConcurrentRotationIsNotLost", testResealKeepsConcurrentRotation},
		{"UnreadableSecretStopsWithItsWebhook", testResealUnreadable},
		{"ResealsEndpointAuth", testResealAuth},
		{"ResealsURLPasswords", testResealURLPassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newDatabase(t))
		})
	}
}

// newRing returns a secretbox sealing with primary and opening with previous too.
func newRing(t *testing.T, primary []byte, previous ...[]byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(primary, previous...)
	ok(t, err, "secretbox")
	return b
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	_, err := rand.Read(k)
	ok(t, err, "random key")
	return k
}

func testResealEverySecret(t *testing.T, db Database) {
	ctx := t.Context()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := db(t, newRing(t, oldKey))
	tenant := addTenant(t, before)

	// More webhooks than one batch, a third of them in a rotation's grace period, so
	// previous secrets are re-sealed too.
	const n = 25
	want := map[string][2]string{} // id → secret, previous secret
	for i := range n {
		w := addWebhook(t, before, tenant)
		prev := ""
		if i%3 == 0 {
			prev, w.Secret = w.Secret, herald.NewSecret()
			ok(t, before.RotateSecret(ctx, w.ID, w.Secret, time.Now().Add(time.Hour)), "rotate secret")
		}
		want[w.ID] = [2]string{w.Secret, prev}
	}
	values := n + (n+2)/3

	rotating := db(t, newRing(t, newKey, oldKey))
	// Mid-rotation, before any re-seal, a process with both keys reads everything.
	for id, secrets := range want {
		wantSecrets(t, rotating, id, secrets, "with the new and the old key, before re-sealing")
	}
	got, err := rotating.ResealSecrets(ctx, 7)
	ok(t, err, "re-seal secrets")
	if got != values {
		t.Errorf("ResealSecrets re-sealed %d values, want %d (%d secrets and %d previous secrets)", got, values, n, values-n)
	}
	again, err := rotating.ResealSecrets(ctx, 7)
	ok(t, err, "re-seal secrets again")
	if again != 0 {
		t.Errorf("a second ResealSecrets re-sealed %d values, want 0", again)
	}

	after := db(t, newRing(t, newKey))
	for id, secrets := range want {
		wantSecrets(t, after, id, secrets, "with only the new key, after re-sealing")
	}
	stale := db(t, newRing(t, oldKey))
	for id := range want {
		if _, err := stale.Webhook(ctx, id); err == nil {
			t.Fatalf("webhook %s opens with only the old key after re-sealing; the old key still works", id)
		}
	}
}

// wantSecrets fails t unless webhook id reads back with secrets (secret, previous).
func wantSecrets(t *testing.T, st herald.Store, id string, secrets [2]string, when string) {
	t.Helper()
	w, err := st.Webhook(t.Context(), id)
	if err != nil {
		t.Fatalf("webhook %s %s: %v", id, when, err)
	}
	if w.Secret != secrets[0] || w.PreviousSecret != secrets[1] {
		t.Fatalf("webhook %s %s: secret and previous secret differ from what was stored", id, when)
	}
}

// hookedCipher is a Resealer that calls beforeSeal with each plaintext before sealing
// it, so a test can change the database between ResealSecrets' read and its write.
type hookedCipher struct {
	*secretbox.Box
	beforeSeal func(plaintext []byte)
}

func (c hookedCipher) Seal(plaintext []byte) ([]byte, error) {
	c.beforeSeal(plaintext)
	return c.Box.Seal(plaintext)
}

func testResealKeepsConcurrentRotation(t *testing.T, db Database) {
	ctx := t.Context()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := db(t, newRing(t, oldKey))
	tenant := addTenant(t, before)
	bySecret := map[string]string{}
	for range 5 {
		w := addWebhook(t, before, tenant)
		bySecret[w.Secret] = w.ID
	}

	// Another process, already on the new key, rotates each webhook's secret right
	// after ResealSecrets has read it and before it writes it back. It runs in a
	// goroutine and is waited for a little only, so that a store that holds a lock
	// from read to write (which is correct too) makes it wait rather than deadlock.
	api := db(t, newRing(t, newKey, oldKey))
	rotated := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	hook := func(plaintext []byte) {
		id, isOld := bySecret[string(plaintext)]
		if !isOld {
			return
		}
		mu.Lock()
		_, done := rotated[id]
		secret := herald.NewSecret()
		rotated[id] = secret
		mu.Unlock()
		if done {
			return
		}
		finished := make(chan struct{})
		wg.Go(func() {
			defer close(finished)
			if err := api.RotateSecret(ctx, id, secret, time.Time{}); err != nil {
				t.Errorf("rotate secret during re-seal: %v", err)
			}
		})
		select {
		case <-finished:
		case <-time.After(2 * time.Second):
		}
	}
	resealer := db(t, hookedCipher{Box: newRing(t, newKey, oldKey), beforeSeal: hook})
	_, err := resealer.ResealSecrets(ctx, 2)
	ok(t, err, "re-seal secrets while secrets rotate")
	wg.Wait()

	if len(rotated) != len(bySecret) {
		t.Fatalf("rotated %d of %d webhooks during the re-seal; the hook did not run for every one", len(rotated), len(bySecret))
	}
	after := db(t, newRing(t, newKey))
	for id, secret := range rotated {
		wantSecrets(t, after, id, [2]string{secret, ""}, "rotated during the re-seal, with only the new key")
	}
}

func testResealUnreadable(t *testing.T, db Database) {
	ctx := t.Context()
	lostKey, newKey := randomKey(t), randomKey(t)
	lost := db(t, newRing(t, lostKey))
	w := addWebhook(t, lost, addTenant(t, lost))

	_, err := db(t, newRing(t, newKey)).ResealSecrets(ctx, 0)
	if err == nil {
		t.Fatal("ResealSecrets with none of the keys a secret was sealed with: no error")
	}
	if !strings.Contains(err.Error(), w.ID) {
		t.Errorf("error %q does not name the webhook %s", err, w.ID)
	}
	if strings.Contains(err.Error(), w.Secret) {
		t.Errorf("error %q shows the secret", err)
	}
	wantSecrets(t, lost, w.ID, [2]string{w.Secret, ""}, "after a failed re-seal, with its own key")
}

// testResealURLPassword checks that a broker URL's password is sealed by the store's
// cipher, as secrets are: it reads back only with the key that sealed it, and
// ResealSecrets moves it to the new key.
func testResealURLPassword(t *testing.T, db Database) {
	ctx := t.Context()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := db(t, newRing(t, oldKey))
	const url = "redis://:hunter2@redis.example:6379/0?stream=events"
	w := addWebhook(t, before, addTenant(t, before), func(w *herald.Webhook) { w.URL = url })

	rotating := db(t, newRing(t, newKey, oldKey))
	n, err := rotating.ResealSecrets(ctx, 0)
	ok(t, err, "re-seal secrets")
	if n != 2 {
		t.Errorf("ResealSecrets re-sealed %d values, want 2 (the secret and the url password)", n)
	}
	after := db(t, newRing(t, newKey))
	got, err := after.Webhook(ctx, w.ID)
	ok(t, err, "read with only the new key")
	if got.URL != url {
		t.Errorf("URL with only the new key = %q, want %q", got.URL, url)
	}
	// A store without the key gets an error, not the URL with *** or without password.
	other := db(t, newRing(t, randomKey(t)))
	if _, err := other.Webhook(ctx, w.ID); err == nil {
		t.Error("webhook read with a key that sealed nothing of it")
	}
}
