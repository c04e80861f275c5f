package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/storetest"
)

// urlEnv names the variable that points the tests at a PostgreSQL server, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test works in a schema
// or a database of its own there, which it drops when it ends.
const urlEnv = "HERALD_TEST_POSTGRES_URL"

// testPoolSize keeps each store's pool small: the contract suite opens dozens of stores
// and the server's max_connections is shared by all of them.
const testPoolSize = "4"

// baseURL returns the server's URL from the environment, or skips t.
func baseURL(t testing.TB) *url.URL {
	t.Helper()
	raw := os.Getenv(urlEnv)
	if raw == "" {
		t.Skip(urlEnv + " not set: skipping PostgreSQL tests")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, not %q (%v)", urlEnv, raw, err)
	}
	return u
}

// withParams returns u with the query parameters kv (name, value, …) set.
func withParams(u *url.URL, kv ...string) *url.URL {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	c.RawQuery = q.Encode()
	return &c
}

// plainURL is u without the pool's parameters, for a single pgx.Connect.
func plainURL(u *url.URL) string {
	c := *u
	q := c.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// randomName is prefix followed by 16 random hex digits: a name no other test run uses.
func randomName(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return prefix + hex.EncodeToString(b)
}

// execAdmin runs statements on a connection of their own to the database at u.
func execAdmin(t testing.TB, u *url.URL, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, plainURL(u))
	if err != nil {
		t.Fatalf("connect to %s: %v", u.Redacted(), err)
	}
	defer conn.Close(ctx) //nolint:errcheck // a test's admin connection
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// freshSchema creates a schema on the test server, drops it when t ends, and returns a
// URL whose search_path is it.
func freshSchema(t testing.TB) *url.URL {
	t.Helper()
	base := baseURL(t)
	schema := randomName("herald_test_")
	ident := pgx.Identifier{schema}.Sanitize()
	execAdmin(t, base, "CREATE SCHEMA "+ident)
	t.Cleanup(func() { execAdmin(t, base, "DROP SCHEMA "+ident+" CASCADE") })
	return withParams(base, "search_path", schema, "pool_max_conns", testPoolSize)
}

// freshDatabase creates a database on the test server, drops it when t ends, and returns
// its URL. Tests that listen for notices, or kill every connection, need one: notices
// and pg_stat_activity's datname are per database, so other tests cannot disturb them,
// nor they other tests.
func freshDatabase(t testing.TB) *url.URL {
	t.Helper()
	base := baseURL(t)
	name := randomName("herald_test_")
	ident := pgx.Identifier{name}.Sanitize()
	execAdmin(t, base, "CREATE DATABASE "+ident)
	t.Cleanup(func() { execAdmin(t, base, "DROP DATABASE "+ident+" WITH (FORCE)") })
	u := withParams(base, "pool_max_conns", testPoolSize)
	u.Path = "/" + name
	return u
}

// open opens a store on u and closes it when t ends.
func open(t testing.TB, u *url.URL) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, u.String(), storetest.Cipher{})
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}
