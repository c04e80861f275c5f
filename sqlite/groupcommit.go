package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxGroup bounds how many write operations share one commit.
const maxGroup = 256

// writeOp is one caller's write transaction, waiting for the writer.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// inTx runs fn as one atomic write and returns once it is committed (or failed).
//
// Writes are group-committed: the writer goroutine runs every operation that is
// waiting in one BEGIN IMMEDIATE transaction, each inside its own savepoint, and
// commits them with a single fsync. An operation whose fn fails is rolled back to its
// savepoint alone; a failed commit fails every operation in it. So each caller still
// sees its write committed whole or not at all, and "committed" is true when inTx
// returns nil, while concurrent callers share the cost of the commit.
//
// fn gets a context that is never cancelled: interrupting a statement would roll back
// the whole shared transaction. A caller whose ctx ends before its turn is skipped.
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("%s: the store is closed", op)
	}
	// Wait for the outcome even if ctx ends now: the write may already be committed.
	if err := <-w.done; err != nil {
		return fmt.Errorf("%s: %w", op, unavailable(err))
	}
	return nil
}

// writer runs queued write operations, as many together as are waiting, until the
// store closes.
func (s *Store) writer() {
	defer close(s.writerDone)
	group := make([]*writeOp, 0, maxGroup)
	for {
		select {
		case w := <-s.writes:
			group = append(group[:0], w)
		case <-s.stop:
			return
		}
	collect:
		for len(group) < maxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break collect
			}
		}
		s.commitGroup(group)
	}
}

// errNotCommitted is what an operation hears if its group ended without a commit for a
// reason of its own (a panic in another operation), so no caller is ever told nil for
// a write that was not committed.
var errNotCommitted = errors.New("write not committed")

// commitGroup runs group in one transaction and tells each operation its outcome.
func (s *Store) commitGroup(group []*writeOp) {
	results := make([]error, len(group))
	committed := false
	defer func() {
		for i, w := range group {
			if results[i] == nil && !committed {
				results[i] = errNotCommitted
			}
			w.done <- results[i]
		}
	}()
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}

	tx, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(err)
		return
	}
	ran := 0
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.Exec("SAVEPOINT op"); err != nil {
			_ = tx.Rollback() // the savepoint error is the one to report
			fail(err)
			return
		}
		if err := runOp(w, tx); err != nil {
			results[i] = err
			// Undo this operation alone. If SQLite already rolled the whole
			// transaction back (disk full, I/O error), this fails, and so does the group.
			if _, rerr := tx.Exec("ROLLBACK TO op"); rerr != nil {
				_ = tx.Rollback() // already rolled back or beyond repair
				fail(errors.Join(err, rerr))
				return
			}
		} else {
			ran++
		}
		if _, err := tx.Exec("RELEASE op"); err != nil {
			_ = tx.Rollback() // the release error is the one to report
			fail(err)
			return
		}
	}
	if ran == 0 {
		_ = tx.Rollback() // nothing to keep
		committed = true  // nothing was to be committed: each op has its own result
		return
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	committed = true
}

// runOp runs one operation's function, turning a panic into that operation's error so
// that it is rolled back to its savepoint and the others in the group go on.
func runOp(w *writeOp, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v", p)
		}
	}()
	return w.fn(context.WithoutCancel(w.ctx), tx)
}
