package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/heraldhq/herald"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a herald.Store on a PostgreSQL database. It is safe for concurrent use, and
// any number of Stores, in this process or others, may share the database.
type Store struct {
	pool   *pgxpool.Pool
	cipher herald.Cipher
	clock  herald.Clock

	// closing ends when Close is called, and with it every Listen.
	closing context.Context
	close   context.CancelFunc

	// process names this store in the processes table and in every lease it takes;
	// heartbeat keeps it alive and closes heartbeatDone when the store closes.
	process       string
	heartbeatDone chan struct{}
	maintainDone  chan struct{} // closed when maintain returns

	records recorder // see RecordAttempt

	announcements chan struct{} // see announce
	announceMu    sync.Mutex
	announceDue   time.Time // the earliest due time not yet announced
}

var (
	_ herald.Store    = (*Store)(nil)
	_ herald.Notifier = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL; pgx's parameters apply, such
// as search_path=myschema for a schema of Herald's own and pool_max_conns for the pool's
// size), applies the embedded migrations under an advisory lock and returns a store that
// seals webhook secrets with cipher.
func Open(ctx context.Context, url string, cipher herald.Cipher) (*Store, error) {
	if cipher == nil {
		return nil, errors.New("open postgres store: a cipher is required")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if _, err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", dbError(err))
	}
	closing, closeFn := context.WithCancel(context.Background())
	s := &Store{pool: pool, cipher: cipher, clock: herald.SystemClock{}, closing: closing, close: closeFn,
		process: newProcessID(), heartbeatDone: make(chan struct{}), maintainDone: make(chan struct{}), announcements: make(chan struct{}, 1)}
	s.records.store = s
	conn, err := s.register(ctx)
	if err != nil {
		closeFn()
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", dbError(err))
	}
	go s.heartbeat(conn)
	go s.maintain()
	go s.announceLoop()
	return s, nil
}

// Migrate applies the migrations the database at url lacks, under the same advisory lock
// as Open, and returns how many it applied.
func Migrate(ctx context.Context, url string) (applied int, err error) {
	cfg, err := pgxpool.ParseConfig(url) // accepts, and leaves out, the pool's own parameters
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return migrate(ctx, cfg.ConnConfig)
}

// errMigrationLockBusy says another process held the migration lock through one wait.
var errMigrationLockBusy = errors.New("another process holds the migration lock")

// busyLocker marks every failure to take the migration lock as errMigrationLockBusy, so
// that migrate can tell waiting for another process from a migration that failed.
type busyLocker struct{ lock.SessionLocker }

func (l busyLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if err := l.SessionLocker.SessionLock(ctx, conn); err != nil {
		return fmt.Errorf("%w: %w", errMigrationLockBusy, err)
	}
	return nil
}

// migrationWait bounds how long migrate waits for another process's migrations.
const migrationWait = 5 * time.Minute

// migrate applies the embedded migrations with goose, through database/sql on pgx's
// stdlib adapter, holding a session advisory lock so that one process at a time
// migrates. The lock's key is the schema's, so installations in different schemas of one
// database do not wait for each other.
//
// Processes that start together on a new database all find migrations pending; one
// takes the lock and applies them. goose polls a busy lock once a second, so rather than
// queue behind each other for the lock, the others give up after one wait and look
// again: by then there is usually nothing left to apply.
func migrate(ctx context.Context, cc *pgx.ConnConfig) (int, error) {
	db := stdlib.OpenDB(*cc.Copy())
	defer db.Close() //nolint:errcheck // closing a pool we only read through loses nothing

	var schema string
	if err := db.QueryRowContext(ctx,
		"SELECT coalesce(current_schema(), current_setting('search_path'))").Scan(&schema); err != nil {
		return 0, fmt.Errorf("migrate: %w", dbError(err))
	}
	h := fnv.New64a()
	io.WriteString(h, "herald migrations in "+schema) //nolint:errcheck // a hash never fails to write
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 1))
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(busyLocker{locker}), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	applied := 0
	deadline := time.Now().Add(migrationWait)
	for {
		pending, err := p.HasPending(ctx)
		if err != nil {
			return applied, fmt.Errorf("migrate: %w", dbError(err))
		}
		if !pending {
			return applied, nil
		}
		results, err := p.Up(ctx)
		applied += len(results)
		switch {
		case err == nil:
			return applied, nil
		case !errors.Is(err, errMigrationLockBusy) || time.Now().After(deadline):
			return applied, fmt.Errorf("migrate: %w", dbError(err))
		}
	}
}

// Ping reports whether the database answers, EUNAVAILABLE when it does not.
func (s *Store) Ping(ctx context.Context) error {
	return s.read(ctx, "ping", s.pool.Ping)
}

// Close waits for the attempt records in flight, then ends this process's registration,
// so that any lease it still holds expires at once, closes the pool, waiting for
// connections in use to be released, and ends every Listen.
func (s *Store) Close() error {
	s.records.running.Wait()
	s.close()
	<-s.heartbeatDone
	<-s.maintainDone
	s.pool.Close()
	return nil
}

// Pool returns the store's connection pool, for tests and tools.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// maxTries bounds how often a transaction runs when it fails for a reason that another
// run may not meet: a serialization failure, a deadlock, a connection lost before commit.
const maxTries = 4

// inTx runs fn in one transaction and commits it. A run that fails for a transient
// reason is rolled back and fn runs again (so fn must not keep state between runs): a
// serialization failure or a deadlock (SQLSTATE 40001, 40P01), a race on a unique key
// that fn reports as errRaced, or a connection lost before COMMIT was sent, which
// PostgreSQL rolls back by itself. A failed COMMIT is never run again, since it may have
// been committed: when its outcome is unknown, inTx says so (see commitUnknown).
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	for try := 1; ; try++ {
		err := s.tryTx(ctx, fn)
		if err == nil {
			return nil
		}
		var ce *commitError
		if errors.As(err, &ce) && commitOutcomeUnknown(ce.err) {
			s.resetIfLost(err)
			return fmt.Errorf("%s: %w: %w", op, commitUnknown(op), err)
		}
		if try >= maxTries || !retryable(err) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, dbError(err))
		}
		s.resetIfLost(err)
		// Jittered, so that two transactions that deadlocked do not meet again.
		pause := time.Duration(try) * (5*time.Millisecond + rand.N(20*time.Millisecond))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", op, dbError(err))
		case <-time.After(pause):
		}
	}
}

// commitError is a failed COMMIT: whether the transaction was committed is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// commitTimeout bounds a COMMIT. It runs apart from the caller's context: a COMMIT
// interrupted by the caller's deadline (an API request's store timeout) may still have
// committed on the server, which leaves the caller unsure; one allowed to finish
// answers for sure, unless the connection or the server is lost meanwhile.
const commitTimeout = 10 * time.Second

// commitOutcomeUnknown reports whether a failed COMMIT (err) may have committed: the
// server did not answer it (the connection was lost or timed out while it was on its
// way or being run). A COMMIT the server answered with an error, such as a
// serialization failure, rolled back.
//
// pgconn.SafeToRetry cannot tell an unsent COMMIT here: when the connection drops while
// pgx waits for COMMIT's answer, pgx closes the connection and reports "conn closed",
// which it marks safe to retry although the COMMIT was sent. So every failure without
// the server's answer counts as unknown; at worst the caller is told an event may be
// stored when it is not, and publishing it again is safe either way.
func commitOutcomeUnknown(err error) bool {
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return false // the server answered ROLLBACK: an earlier statement had failed
	}
	var pe *pgconn.PgError
	return !errors.As(err, &pe) || connectionLost(err)
}

// commitUnknown is the error of a transaction whose COMMIT went unanswered. It is
// EUNAVAILABLE (the caller should try again), and says what trying again does: a
// publish is deduplicated by event id and Idempotency-Key, so repeating it is safe;
// another change may need checking first.
func commitUnknown(op string) *herald.Error {
	msg := "the database did not confirm the commit: the change may be stored; check before making it again"
	if op == "publish" {
		msg = "the database did not confirm the commit: the event may be stored; publish it again with the same id or Idempotency-Key, which Herald deduplicates"
	}
	return &herald.Error{Code: herald.EUNAVAILABLE, Message: msg}
}

func (s *Store) tryTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	if err := fn(ctx, tx); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return &commitError{err}
	}
	return nil
}

// rollback ends tx if it is still open: after a failure, or a read. It has a time of its
// own, since ctx may have ended, and a bound, since the connection may hang.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx) // after Commit a no-op; after a failure, the failure is the error to report
}

// read runs fn, which only reads, again if its connection was lost: the pool's idle
// connections may all have died with the server since they were last used.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	for try := 1; ; try++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var he *herald.Error
		if try >= maxTries || errors.As(err, &he) || !connectionLost(err) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, dbError(err))
		}
		s.resetIfLost(err)
	}
}

// resetIfLost closes every connection of the pool when err says one was lost: what takes
// one connection away (a server restart, a failover, an administrator) has usually taken
// them all, and the next try should not meet another dead one. Connections in use are
// closed when they are released.
func (s *Store) resetIfLost(err error) {
	if connectionLost(err) {
		s.pool.Reset()
	}
}

// readTx runs fn in one read-only transaction that sees one snapshot throughout (a count
// and the page it goes with agree), again if its connection was lost.
func (s *Store) readTx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.read(ctx, op, func(ctx context.Context) error {
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer rollback(ctx, tx)
		return fn(ctx, tx)
	})
}

// errRaced marks a unique or foreign key violation met because another transaction
// committed the same key in the meantime: running again sees what it committed.
var errRaced = errors.New("a concurrent transaction wrote the same key")

// retryable reports whether a transaction that failed with err may succeed if run again.
func retryable(err error) bool {
	if errors.Is(err, errRaced) {
		return true
	}
	if code := sqlState(err); code == "40001" || code == "40P01" {
		return true // the server rolled back: a failed COMMIT too
	}
	var ce *commitError
	var he *herald.Error
	return !errors.As(err, &ce) && !errors.As(err, &he) && connectionLost(err)
}

// sqlState is the SQLSTATE of the PostgreSQL error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// connectionLost reports whether err means the connection failed or went away, rather
// than that the server refused a statement.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	code := sqlState(err)
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// unavailable marks errors that mean the database cannot serve now as EUNAVAILABLE, so the
// API answers 503, keeping the driver's error in the chain: a lost or refused connection,
// a server shutting down or out of resources, a timeout, a standby that takes no writes,
// a conflict that outlasted the retries. Other errors pass through unchanged.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var he *herald.Error
	if errors.As(err, &he) {
		return err
	}
	code := sqlState(err)
	switch {
	case connectionLost(err), pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded),
		strings.HasPrefix(code, "53"), // insufficient resources: too many connections, disk full
		strings.HasPrefix(code, "58"), // system error: I/O
		code == "57014",               // statement timeout or cancelled
		code == "55P03",               // lock timeout
		code == "25006",               // read-only transaction: a standby after a failover
		code == "40001", code == "40P01":
		return fmt.Errorf("%w: %w", &herald.Error{
			Code:    herald.EUNAVAILABLE,
			Message: "the database cannot take this request now; try again later",
			Details: err.Error(),
		}, err)
	}
	return err
}

// dbError maps what the database said to a herald error where one applies.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	var he *herald.Error
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, errRaced):
		return fmt.Errorf("%w: %w", herald.Errorf(herald.ECONFLICT,
			"another request wrote the same thing at the same moment; try again"), err)
	case sqlState(err) == "23505":
		return fmt.Errorf("%w: %w", herald.Errorf(herald.ECONFLICT, "it already exists"), err)
	case sqlState(err) == "22021", sqlState(err) == "22P05":
		// Invalid UTF-8, or \u0000, which PostgreSQL's text and jsonb cannot hold.
		return fmt.Errorf("%w: %w", herald.Errorf(herald.EINVALID,
			"the request holds text the database cannot store (a NUL character or invalid UTF-8)"), err)
	}
	return unavailable(err)
}

// notFound returns the ENOTFOUND error for a missing thing.
func notFound(what, id string) error {
	return herald.Errorf(herald.ENOTFOUND, "%s %q not found", what, id)
}

// conflict returns the ECONFLICT error for a thing whose id exists.
func conflict(what, id string) error {
	return herald.Errorf(herald.ECONFLICT, "%s %q already exists", what, id)
}

// isUniqueViolation reports whether err is a primary key or unique constraint failure.
func isUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// stored is a time as the database keeps it: microseconds, UTC.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// storedPtr stores a nil or zero time as NULL.
func storedPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := stored(*t)
	return &v
}

// utcPtr is a scanned nullable time in UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// now is the store's clock, truncated to what it stores.
func (s *Store) now() time.Time { return stored(s.clock.Now()) }
