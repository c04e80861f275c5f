package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/heraldhq/herald"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a statement waits for another connection's lock (in this or
// another process) before it gives up with SQLITE_BUSY, which the store reports as
// EUNAVAILABLE.
const busyTimeout = 10 * time.Second

// readConns bounds the reader pool: WAL readers never block each other or the writer.
const readConns = 4

// Store is a herald.Store on one SQLite file. It is safe for concurrent use, and it
// must be the only Store using its file (see the package comment): its leases are in
// its memory.
type Store struct {
	write  *sql.DB // one connection; every transaction on it is BEGIN IMMEDIATE
	read   *sql.DB // a pool for reads outside write transactions
	cipher herald.Cipher
	clock  herald.Clock

	// Every write transaction goes through the writer goroutine, which commits what
	// queues up together (see inTx).
	writes     chan *writeOp
	stop       chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	// commits counts the write transactions committed, for tests.
	commits atomic.Int64
	// recordLinger is how long lone attempt records wait for company (see linger):
	// recordLinger, or longer in tests. The writer reads it after receiving a write.
	recordLinger time.Duration
	// lingering is true while attempt records wait for company, for tests.
	lingering atomic.Bool

	// hot holds the write connection's prepared statements for the queries every
	// delivery runs (see hotQueries), by query text.
	hot map[string]*sql.Stmt

	leases leaseTable
	// walkAgainIn counts down the claims that skip the walk in due order (see pickDue).
	// Claims run in the writer goroutine alone, which is all that touches it.
	walkAgainIn int
}

var _ herald.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies the embedded
// migrations, and returns a store that seals webhook secrets with cipher.
func Open(ctx context.Context, path string, cipher herald.Cipher) (*Store, error) {
	if cipher == nil {
		return nil, errors.New("open sqlite store: a cipher is required")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	pragmas := []string{
		"busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")",
		"foreign_keys(1)",
		"synchronous(FULL)",
	}
	// The write connection keeps its sub-journals in memory. SQLite copies there every
	// page a savepoint of the group commit or a statement changes before it changes it
	// (every UPDATE of deliveries takes a statement journal, because the retention
	// triggers make it write more than one row); in a temporary file that was a pwrite
	// per page, a tenth of the server's CPU per delivery. It holds the pages one group
	// changes at most, a few megabytes.
	writePragmas := append(slices.Clone(pragmas), "temp_store(MEMORY)")
	write, err := sql.Open("sqlite", dsn(abs, writePragmas, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	// The writer opens first so the file is in WAL mode before any reader connects.
	if err := walMode(ctx, write); err != nil {
		_ = write.Close() // the open error is the one worth returning
		return nil, fmt.Errorf("open sqlite store %s: %w", path, unavailable(err))
	}
	if err := migrate(ctx, write); err != nil {
		_ = write.Close() // the migration error is the one worth returning
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	hot, err := prepareHot(ctx, write)
	if err != nil {
		_ = write.Close() // the prepare error is the one worth returning
		return nil, fmt.Errorf("open sqlite store %s: %w", path, unavailable(err))
	}
	read, err := sql.Open("sqlite", dsn(abs, append(pragmas, "query_only(1)")))
	if err != nil {
		_ = write.Close() // the open error is the one worth returning
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	s := &Store{
		write: write, read: read, cipher: cipher, clock: herald.SystemClock{},
		writes: make(chan *writeOp), stop: make(chan struct{}), writerDone: make(chan struct{}),
		hot: hot, leases: leaseTable{held: map[string]lease{}}, recordLinger: recordLinger,
	}
	go s.writer()
	return s, nil
}

// walMode switches the file to WAL, which it stays in. Switching needs the file to
// itself, and SQLite answers SQLITE_BUSY at once rather than wait for another process
// opening it at the same moment, so it is retried for up to busyTimeout.
func walMode(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil && !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("journal mode is %s, not wal", mode)
		}
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dsn builds a modernc.org/sqlite URI for the file at the absolute path abs.
func dsn(abs string, pragmas []string, extra ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		q.Set(k, v)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// migrate applies the embedded migrations. Processes that start together on a new file
// may race to apply the same migration: each runs in its own immediate transaction, so
// the loser fails cleanly and, once the winner is done, finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var upErr error
	for try := range 5 {
		if _, upErr = p.Up(ctx); upErr == nil {
			return nil
		}
		if pending, err := p.HasPending(ctx); err == nil && !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate: %w", ctx.Err())
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
	return fmt.Errorf("migrate: %w", unavailable(upErr))
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", unavailable(err))
	}
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", unavailable(err))
	}
	return nil
}

// Close closes both connection pools. A clean close checkpoints the WAL into the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.writerDone
	errs := []error{s.read.Close()}
	for _, st := range s.hot {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.write.Close())...)
}

// readTx runs fn in one read transaction, so the queries it makes see one snapshot.
func (s *Store) readTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(err))
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction has nothing to undo
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(err))
	}
	return nil
}

// unavailable marks errors that mean the database cannot serve now (locked past the
// busy timeout, disk full, I/O failure) as EUNAVAILABLE so the API answers 503, and
// keeps the driver's error in the chain. Other errors pass through unchanged.
func unavailable(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
		return fmt.Errorf("%w: %w", &herald.Error{
			Code:    herald.EUNAVAILABLE,
			Message: "the database cannot take this request now; try again later",
			Details: se.Error(),
		}, err)
	}
	return err
}

// isUniqueViolation reports whether err is a primary key or unique constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isForeignKeyViolation reports whether err is a foreign key constraint failure.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// notFound returns the ENOTFOUND error for a missing thing.
func notFound(what, id string) error {
	return herald.Errorf(herald.ENOTFOUND, "%s %q not found", what, id)
}

// conflict returns the ECONFLICT error for a thing whose id exists.
func conflict(what, id string) error {
	return herald.Errorf(herald.ECONFLICT, "%s %q already exists", what, id)
}

// micros is how a time is stored: Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores a zero or nil time as NULL.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros is the UTC time of stored microseconds.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// fromNullMicros is nil for NULL.
func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// now is the store's clock, truncated to what it stores.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// jsonText encodes v for a JSON text column.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// placeholders returns "?, ?, ?" for n parameters.
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// hotQueries are the statements run for every delivery: its publish (the repeat check
// and the multi-row INSERTs of every chunk size), its claim, its attempt's record and
// the savepoints of the group commit around them. Parsing SQL was a fifth of the
// CPU time of a delivery, so these are prepared once, when the store opens, on the one
// write connection, and every write transaction uses them from there (tx.StmtContext
// finds the connection's prepared statement; after a reconnect it prepares again).
var hotQueries = append([]string{
	savepointOp, releaseOp, rollbackToOp, savepointShared, releaseShared, rollbackToShared,
	dueInOrder, dueByWebhook, claimsQuery,
	attemptStateQuery, insertAttemptQuery, updateHealthQuery, dropAttemptsQuery,
	recordDeliveryQuery, recordSucceededQuery,
	eventOwnersQuery, subscribersQuery,
}, insertQueries()...)

// prepareHot prepares hotQueries on db, which must not be in use yet: its single
// connection is busy for good once the writer starts.
func prepareHot(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	hot := make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range hot {
				_ = st.Close() // the prepare error is the one worth returning
			}
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		hot[q] = st
	}
	return hot, nil
}

// stmt returns tx's use of the prepared statement for q, or nil when q is not hot.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if st, ok := s.hot[q]; ok {
		return tx.StmtContext(ctx, st)
	}
	return nil
}

// exec is tx.ExecContext, with q's prepared statement when it has one.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// query is tx.QueryContext, with q's prepared statement when it has one.
func (s *Store) query(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, tx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}

// queryRow is tx.QueryRowContext, with q's prepared statement when it has one.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.stmt(ctx, tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}
