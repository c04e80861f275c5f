package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/postgres"
	_ "github.com/heraldhq/herald/sqlite" // registers the SQLite driver the source is read with
)

// copiedTables are Herald's tables in an order that satisfies their foreign keys. Both
// stores use the same table and column names; only the column types differ.
var copiedTables = []string{
	"settings", "tenants", "event_types", "webhooks", "events", "idempotency_keys", "deliveries", "attempts",
}

// migrateStoreUsage explains herald migrate-store.
const migrateStoreUsage = `Usage: herald migrate-store --from PATH --to postgres://…

Copies everything from a SQLite database (tenants, webhooks with their sealed secrets,
events, deliveries, attempts, settings) into an empty PostgreSQL database in one
transaction, and checks that every table's row count matches. Secrets are copied as
sealed: start herald serve on PostgreSQL with the encryption key the SQLite data
directory used (<data-dir>/encryption.key) as --encryption-key. Stop the SQLite
server first: while one holds the data directory, this refuses to start.
`

// migrateStore copies a SQLite store into PostgreSQL.
func migrateStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herald migrate-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateStoreUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "path of the SQLite database, e.g. herald-data/herald.db")
	to := fs.String("to", "", "postgres:// URL of an empty database (its schema is created)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *from == "" || !isPostgres(*to) {
		fs.Usage()
		return errors.New("--from PATH and --to postgres://… are required")
	}

	// A server still running would go on accepting events the copy never sees.
	unlock, err := lockSQLiteFile(*from)
	if err != nil {
		return err
	}
	defer unlock()
	src, err := sql.Open("sqlite", "file:"+*from+"?mode=ro")
	if err != nil {
		return fmt.Errorf("open %s: %w", *from, err)
	}
	defer src.Close()
	// One read transaction: a consistent snapshot even if a server still writes.
	srcTx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read %s: %w", *from, err)
	}
	defer srcTx.Rollback()

	if _, err := postgres.Migrate(ctx, *to); err != nil {
		return fmt.Errorf("create the schema: %w", err)
	}
	dst, err := pgx.Connect(ctx, *to)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer dst.Close(context.WithoutCancel(ctx))
	dstTx, err := dst.Begin(ctx)
	if err != nil {
		return err
	}
	defer dstTx.Rollback(context.WithoutCancel(ctx))

	start := time.Now()
	for _, table := range copiedTables {
		n, err := copyTable(ctx, srcTx, dstTx, table)
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		fmt.Fprintf(stdout, "%-17s %8d rows copied, counts match\n", table, n)
	}
	if err := dstTx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fmt.Fprintf(stdout, "done in %s. Start herald serve with --database-url set to the PostgreSQL URL and --encryption-key set to the SQLite data directory's key.\n",
		time.Since(start).Round(time.Millisecond))
	return nil
}

// copyTable copies one table, which must be empty in dst, and checks both sides then
// hold the same number of rows.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, table string) (int64, error) {
	var existing int64
	if err := dst.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&existing); err != nil {
		return 0, err
	}
	if existing > 0 {
		return 0, fmt.Errorf("the target already holds %d rows: migrate-store copies into an empty database, before herald serve first runs on it", existing)
	}
	types, err := columnTypes(ctx, dst, table)
	if err != nil {
		return 0, err
	}
	columns, err := sourceColumns(ctx, src, table)
	if err != nil {
		return 0, err
	}
	for _, c := range columns {
		if types[c] == "" {
			return 0, fmt.Errorf("column %s has no counterpart in PostgreSQL: is the schema older than the SQLite one?", c)
		}
	}
	rows, err := src.QueryContext(ctx, "SELECT "+strings.Join(columns, ", ")+" FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	copied, err := dst.CopyFrom(ctx, pgx.Identifier{table}, columns, &rowSource{rows: rows, columns: columns, types: types})
	if err != nil {
		return 0, err
	}
	var want, got int64
	if err := src.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&want); err != nil {
		return 0, err
	}
	if err := dst.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&got); err != nil {
		return 0, err
	}
	if got != want || copied != want {
		return 0, fmt.Errorf("SQLite has %d rows, PostgreSQL %d after copying %d", want, got, copied)
	}
	return got, nil
}

// notCopied are SQLite columns that hold the state of a running process, not data:
// PostgreSQL keeps leases in a table of their own, tied to the living processes, and a
// lease of the stopped SQLite server means nothing there.
var notCopied = map[string]bool{"lease_owner": true, "lease_until": true}

// sourceColumns returns the columns of table in SQLite that are copied.
func sourceColumns(ctx context.Context, src *sql.Tx, table string) ([]string, error) {
	rows, err := src.QueryContext(ctx, "SELECT * FROM "+table+" LIMIT 0")
	if err != nil {
		return nil, err
	}
	all, err := rows.Columns()
	_ = rows.Close() // a read of no rows: what can fail is reported by Columns
	if err != nil {
		return nil, err
	}
	var columns []string
	for _, c := range all {
		if !notCopied[c] {
			columns = append(columns, c)
		}
	}
	return columns, nil
}

// columnTypes returns the PostgreSQL data type of each of table's columns.
func columnTypes(ctx context.Context, dst pgx.Tx, table string) (map[string]string, error) {
	rows, err := dst.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		types[name] = typ
	}
	return types, rows.Err()
}

// rowSource feeds SQLite rows to CopyFrom, converting each value to its PostgreSQL
// column's type: SQLite keeps times as Unix microseconds and flags as 0 or 1.
type rowSource struct {
	rows    *sql.Rows
	columns []string
	types   map[string]string
	values  []any
	err     error
}

func (r *rowSource) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	raw := make([]any, len(r.columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if r.err = r.rows.Scan(ptrs...); r.err != nil {
		return false
	}
	r.values = raw
	for i, c := range r.columns {
		if r.values[i], r.err = convert(raw[i], r.types[c]); r.err != nil {
			r.err = fmt.Errorf("column %s: %w", c, r.err)
			return false
		}
	}
	return true
}

func (r *rowSource) Values() ([]any, error) { return r.values, r.err }
func (r *rowSource) Err() error             { return r.err }

// convert turns one SQLite value into the Go value pgx writes to a column of pgType;
// what needs no conversion pgx checks itself.
func convert(v any, pgType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "timestamp with time zone":
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want a time in Unix microseconds, got %T", v)
		}
		return time.UnixMicro(n).UTC(), nil
	case "boolean":
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want 0 or 1, got %T", v)
		}
		return n != 0, nil
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "text", "jsonb", "json", "character varying":
		s, ok := v.(string)
		if b, isBytes := v.([]byte); isBytes {
			s, ok = string(b), true
		}
		if !ok {
			break
		}
		// PostgreSQL refuses NUL and invalid UTF-8 in text, and \u0000 in jsonb, which a
		// hostile endpoint's response (kept in attempts) may hold; SQLite took them.
		s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
		if pgType == "jsonb" {
			s = strings.ReplaceAll(s, `\u0000`, `\ufffd`)
		}
		return s, nil
	}
	return v, nil
}
