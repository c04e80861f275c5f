package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/secretbox"
)

// rotateKeyUsage explains herald rotate-encryption-key and the procedure it is part of.
const rotateKeyUsage = `Usage: herald rotate-encryption-key --encryption-key NEW --previous-encryption-keys OLD
           [--data-dir DIR | --database-url URL] [--batch N]

Re-seals every webhook secret in the database under the encryption key NEW, opening
each with NEW or any of OLD (a comma-separated list), while servers go on delivering:
it rewrites a batch of webhooks per short transaction, each only if it is unchanged
since it was read, so a secret rotated through the API meanwhile is never overwritten.
It prints how many values it re-sealed; a second run re-seals none.

Pass keys through HERALD_ENCRYPTION_KEY and HERALD_PREVIOUS_ENCRYPTION_KEYS rather than
flags, which other users of the machine can see in the process list.

Rotating the key, on PostgreSQL, without downtime:
  1. Restart the servers one at a time with --encryption-key OLD
     --previous-encryption-keys NEW: each can now open what NEW seals, and none seals
     with it yet. (Skipping it, a webhook created or rotated on a server already on NEW
     fails on the servers still on OLD until they move; recover its deliveries after.)
  2. Restart them one at a time with --encryption-key NEW --previous-encryption-keys OLD.
  3. Run this command with the same two settings.
  4. Later, restart them with --encryption-key NEW alone. A server started with OLD
     alone now refuses to start: the database's secrets no longer open with it.

On SQLite (one server, whose key is <data-dir>/encryption.key unless --encryption-key
is set; the server holds its data directory, so this command refuses to run beside it):
  1. (umask 077; openssl rand -base64 32 > new.key)
  2. Stop the server.
  3. Run this command with --data-dir, HERALD_ENCRYPTION_KEY="$(cat new.key)" and
     HERALD_PREVIOUS_ENCRYPTION_KEYS="$(cat herald-data/encryption.key)". It takes
     moments: a SQLite server holds few webhooks.
  4. Replace herald-data/encryption.key with new.key (keep the old one until you have
     a backup taken after the rotation) and start the server again.
Backups taken before the rotation open only with the old key.
`

// rotateEncryptionKey re-seals a database's secrets under a new encryption key.
func rotateEncryptionKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := &serveConfig{}
	fs := flag.NewFlagSet("herald rotate-encryption-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, rotateKeyUsage); fs.PrintDefaults() }
	fs.StringVar(&cfg.dataDir, "data-dir", "./herald-data", "the data directory herald serve runs with")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "SQLite file path (default <data-dir>/herald.db) or postgres:// URL")
	fs.StringVar(&cfg.encryptionKey, "encryption-key", "", "the new key, 32 bytes as base64 or hex (default: <data-dir>/encryption.key)")
	fs.StringVar(&cfg.previousKeys, "previous-encryption-keys", "", "comma-separated keys the secrets may be sealed with now")
	batch := fs.Int("batch", herald.ResealBatch, "webhooks re-sealed per transaction")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *batch <= 0 {
		return fmt.Errorf("--batch must be above zero, not %d", *batch)
	}
	if cfg.encryptionKey == "" && isPostgres(cfg.databaseURL) {
		return errors.New("--encryption-key (HERALD_ENCRYPTION_KEY) is required on PostgreSQL: the key to re-seal under")
	}
	// Unlike serve, never create a key file here: a key made up now opens nothing.
	var primary []byte
	var err error
	if cfg.encryptionKey != "" {
		primary, err = secretbox.ParseKey(cfg.encryptionKey)
	} else {
		primary, err = secretbox.LoadKey(filepath.Join(cfg.dataDir, "encryption.key"))
	}
	if err != nil {
		return fmt.Errorf("--encryption-key: %w", err)
	}
	ring, err := newKeyring(primary, cfg.previousKeys)
	if err != nil {
		return err
	}
	// On SQLite the server's store is the only writer of its file: it must be stopped.
	unlock, err := lockSQLite(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	store, _, err := openStore(ctx, cfg, ring) // no dispatcher runs here to listen
	if err != nil {
		return err
	}
	defer store.Close()

	// The check value first: if the keys do not open it, they are not this database's,
	// and nothing is rewritten. It is sealed again last, so that it says "the new key"
	// only once every secret opens with it.
	if err := openCheckValue(ctx, store, ring); err != nil {
		return err
	}
	n, err := store.ResealSecrets(ctx, *batch)
	if err != nil {
		return fmt.Errorf("re-sealed %d values, then: %w", n, err)
	}
	if err := resealCheckValue(ctx, store, ring); err != nil {
		return err
	}
	id := secretbox.KeyID(primary)
	fmt.Fprintf(stdout, "re-sealed %d secret value(s) under the key with id %s; every secret now opens with it alone\n", n, hex.EncodeToString(id[:]))
	return nil
}

// newKeyring returns the ring of primary and the comma-separated keys in previous.
// Errors name a key by its place in the list, never by its value.
func newKeyring(primary []byte, previous string) (*secretbox.Box, error) {
	var keys [][]byte
	for i, s := range strings.Split(previous, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := secretbox.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("--previous-encryption-keys, key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return secretbox.New(primary, keys...)
}

// openCheckValue errs unless a key of the ring opens the encryption check value. A
// database without one yet passes: serve sets it.
func openCheckValue(ctx context.Context, store herald.Store, ring herald.Cipher) error {
	_, err := checkValue(ctx, store, ring)
	return err
}

// checkValue returns the sealed encryption check value, nil if the database has none,
// and errs unless a key of the ring opens it.
func checkValue(ctx context.Context, store herald.Store, ring herald.Cipher) ([]byte, error) {
	sealed, err := store.Setting(ctx, encryptionCheckSetting)
	if herald.ErrorCode(err) == herald.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the encryption check: %w", err)
	}
	if _, err := ring.Open(sealed); err != nil {
		return nil, errWrongKey
	}
	return sealed, nil
}

// resealCheckValue seals the encryption check value again with the ring's primary key
// if another key sealed it, after checking a key of the ring opens it.
func resealCheckValue(ctx context.Context, store herald.Store, ring herald.Resealer) error {
	sealed, err := checkValue(ctx, store, ring)
	if err != nil || sealed == nil || ring.Current(sealed) {
		return err
	}
	mine, err := ring.Seal([]byte("herald"))
	if err != nil {
		return err
	}
	// Two rotations at once may each re-seal it; either value is good.
	if err := store.PutSetting(ctx, encryptionCheckSetting, mine); err != nil {
		return fmt.Errorf("re-seal the encryption check: %w", err)
	}
	return nil
}

// errWrongKey is why a server, or the rotation, refuses a database whose secrets none
// of its keys opens.
var errWrongKey = errors.New("the encryption key does not open this database's secrets: start with the key it was created with (--encryption-key, or <data-dir>/encryption.key for SQLite), or, during a key rotation, with the new key and the old one in --previous-encryption-keys")
