package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/sqlite"
)

// backupUsage explains herald backup.
const backupUsage = `Usage: herald backup --output FILE [--data-dir DIR | --database-url PATH]

Writes a consistent copy of the SQLite database to FILE while herald serve goes on
running (VACUUM INTO: one snapshot, without stopping writers), checks the copy with
PRAGMA integrity_check and prints what it holds. FILE must not exist.

The copy's webhook secrets are sealed with the data directory's encryption.key (or
--encryption-key): keep that key too, stored apart from the backups. To restore, stop
the server and put the copy in place as herald.db beside the same key.

On PostgreSQL, back up with pg_dump (or base backups) instead.
`

// backupTables are the tables whose row counts the backup reports.
var backupTables = []string{"webhooks", "events", "deliveries", "attempts"}

// backup copies a running server's SQLite database into a new file.
func backup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := &serveConfig{}
	fs := flag.NewFlagSet("herald backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage); fs.PrintDefaults() }
	output := fs.String("output", "", "path of the copy to write; must not exist")
	fs.StringVar(&cfg.dataDir, "data-dir", "./herald-data", "the data directory herald serve runs with")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "SQLite file path (default <data-dir>/herald.db)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if isPostgres(cfg.databaseURL) {
		return errors.New("herald backup copies SQLite databases; back up PostgreSQL with pg_dump (e.g. pg_dump --format=custom) or base backups, and back up the --encryption-key too")
	}
	if *output == "" {
		fs.Usage()
		return errors.New("--output FILE is required")
	}

	src := sqlitePath(cfg)
	if err := sqlite.Backup(ctx, src, *output); err != nil {
		return err
	}
	fi, err := os.Stat(*output)
	if err != nil {
		return err
	}
	counts, err := countRows(ctx, *output, backupTables)
	if err != nil {
		return fmt.Errorf("read the copy: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%s, integrity ok), a copy of %s holding:\n", *output, byteSize(fi.Size()), src)
	for _, table := range backupTables {
		fmt.Fprintf(stdout, "  %-11s %8d\n", table, counts[table])
	}
	fmt.Fprintln(stdout, "Its webhook secrets open only with the encryption key the server runs with: back up that key too, apart from this file.")
	return nil
}

// countRows counts the rows of each table in the SQLite file at path, in one snapshot.
func countRows(ctx context.Context, path string, tables []string) (map[string]int64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	defer db.Close() // read-only: nothing to flush
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() // read-only: nothing to undo
	counts := make(map[string]int64, len(tables))
	for _, table := range tables {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", table, err)
		}
		counts[table] = n
	}
	return counts, nil
}

// byteSize formats a file size for people: 812 B, 4.2 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
