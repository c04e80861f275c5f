package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/heraldhq/herald/postgres"
)

// migrate applies the PostgreSQL schema's pending migrations, for deployments that run
// them as a step of their own before starting servers. herald serve applies them too,
// under an advisory lock, so this is never required.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("herald migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("database-url", "", "postgres:// URL of the database to migrate")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if !isPostgres(*url) {
		return errors.New("--database-url (HERALD_DATABASE_URL) must be a postgres:// URL; SQLite is migrated when herald serve opens it")
	}
	applied, err := postgres.Migrate(ctx, *url)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); the schema is up to date\n", applied)
	return nil
}
