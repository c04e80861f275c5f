package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// The savepoint statements around each operation of a group, and around a run of
// repeatable operations that share one (see commitGroup).
const (
	savepointOp      = "SAVEPOINT op"
	releaseOp        = "RELEASE op"
	rollbackToOp     = "ROLLBACK TO op"
	savepointShared  = "SAVEPOINT shared"
	releaseShared    = "RELEASE shared"
	rollbackToShared = "ROLLBACK TO shared"
)

// maxGroup bounds how many write operations share one commit.
const maxGroup = 256

// recordLinger bounds how long a lone attempt record waits for another write to share
// its commit. At low traffic every event otherwise pays two lone
// commits, each with an fsync: its publish and its attempt's record. The record's
// caller is the dispatcher, whose slot to the endpoint is already free, so the wait
// delays no request; it is long enough for the next event at 100 a second to join.
const recordLinger = 10 * time.Millisecond

// writeOp is one caller's write transaction, waiting for the writer.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
	// repeatable says fn may run again after its first run was rolled back: it sets
	// whatever it reports afresh on every run, and does nothing outside tx.
	repeatable bool
	// lingers says the operation, when it is alone, may wait up to recordLinger for
	// company (see linger): an attempt record.
	lingers bool
	// readMostly says the operation alone usually commits nothing (a claim): it is
	// never made to wait with a lingering group, nor does it end the wait.
	readMostly bool
}

// inTx runs fn as one atomic write and returns once it is committed (or failed).
//
// Writes are group-committed: the writer goroutine runs every operation that is
// waiting in one BEGIN IMMEDIATE transaction, each inside its own savepoint, and
// commits them with a single fsync. An operation whose fn fails is rolled back to its
// savepoint alone; a failed commit fails every operation in it. So each caller still
// sees its write committed whole or not at all, and "committed" is true when inTx
// returns nil, while concurrent callers share the cost of the commit. An operation
// that finds no other waiting runs without a savepoint (see commitAlone).
//
// fn gets a context that is never cancelled: interrupting a statement would roll back
// the whole shared transaction. A caller whose ctx ends before its turn is skipped.
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.write1(ctx, op, &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// inRepeatableTx is inTx for a fn that may run twice (see writeOp.repeatable): the
// writes of every delivery (publish, claim, attempt record) are, so that consecutive
// ones in a group share one savepoint instead of one each.
func (s *Store) inRepeatableTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.write1(ctx, op, &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), repeatable: true})
}

// inRecordTx is inRepeatableTx for an attempt record, which may wait briefly for
// another write to share its commit (see linger). It still returns only once committed.
func (s *Store) inRecordTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.write1(ctx, op, &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), repeatable: true, lingers: true})
}

// inClaimTx is inRepeatableTx for a claim, which reads and alone commits nothing, so it
// runs at once even while attempt records wait for company (see linger).
func (s *Store) inClaimTx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.write1(ctx, op, &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1), repeatable: true, readMostly: true})
}

// write1 queues w for the writer and waits for its outcome.
func (s *Store) write1(ctx context.Context, op string, w *writeOp) error {
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
	linger := time.NewTimer(recordLinger)
	linger.Stop()
	for {
		select {
		case w := <-s.writes:
			group = append(group[:0], w)
		case <-s.stop:
			return
		}
		// The callers of the group just committed are waking up now, many of them to
		// queue their next write at once (the dispatcher records an attempt and
		// claims, publishers publish again). Collecting at once tends to take only
		// the first of them, and the rest wait for its fsync. Letting them run first
		// makes bigger groups, for the cost of a yield.
		runtime.Gosched()
	collect:
		for len(group) < maxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break collect
			}
		}
		if len(group) == 1 && group[0].lingers {
			group = s.linger(group, linger)
		}
		s.commitGroup(group)
	}
}

// linger waits up to s.recordLinger for another write to join group, a lone attempt
// record, so that the record shares its commit and fsync instead of paying its own,
// and returns the group to commit. Any write but a claim is company, another record
// too: records that already share a commit must not wait, or each webhook's leases
// would be held longer at full speed. Claims that arrive meanwhile are committed at
// once by themselves, which alone costs no sync: a claim sends the next attempts, and
// must not wait for a record. The store closing ends the wait too.
func (s *Store) linger(group []*writeOp, timer *time.Timer) []*writeOp {
	timer.Reset(s.recordLinger)
	s.lingering.Store(true)
	defer func() {
		s.lingering.Store(false)
		timer.Stop()
	}()
	for {
		select {
		case w := <-s.writes:
			if w.readMostly {
				s.commitGroup([]*writeOp{w})
				continue
			}
			group = append(group, w)
			for len(group) < maxGroup { // company came: take whoever else is waiting
				select {
				case w := <-s.writes:
					group = append(group, w)
				default:
					return group
				}
			}
			return group
		case <-timer.C:
			return group
		case <-s.stop:
			return group
		}
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

	ctx := context.Background() // a shared transaction is not any one caller's to cancel
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	if len(group) == 1 {
		s.commitAlone(tx, group[0], &results[0], &committed)
		return
	}
	// Each operation that is not repeatable runs in a savepoint of its own, to be
	// undone alone if it fails. A savepoint makes SQLite copy each page it changes to a
	// sub-journal first, which was a tenth of the CPU of a delivery, and consecutive
	// operations mostly change the same pages (the ends of the same indexes, the same
	// webhook row). So a run of repeatable operations shares one savepoint, and when
	// one of them fails, the run is rolled back and its operations run again one by
	// one, each in its own savepoint, which undoes the failure alone.
	var shared []int // the operations run since the shared savepoint opened
	isolated := func(i int) error {
		w := group[i]
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			return nil
		}
		if _, err := s.exec(ctx, tx, savepointOp); err != nil {
			return err
		}
		if err := runOp(w, tx); err != nil {
			results[i] = err
			// Undo this operation alone. If SQLite already rolled the whole
			// transaction back (disk full, I/O error), this fails, and so does the group.
			if _, rerr := s.exec(ctx, tx, rollbackToOp); rerr != nil {
				return errors.Join(err, rerr)
			}
		} else {
			results[i] = nil
		}
		_, err := s.exec(ctx, tx, releaseOp)
		return err
	}
	for i, w := range group {
		if !w.repeatable {
			if len(shared) > 0 {
				shared = shared[:0]
				if _, err := s.exec(ctx, tx, releaseShared); err != nil {
					_ = tx.Rollback() // the release error is the one to report
					fail(err)
					return
				}
			}
			if err := isolated(i); err != nil {
				_ = tx.Rollback() // the savepoint error is the one to report
				fail(err)
				return
			}
			continue
		}
		if err := w.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if len(shared) == 0 {
			if _, err := s.exec(ctx, tx, savepointShared); err != nil {
				_ = tx.Rollback() // the savepoint error is the one to report
				fail(err)
				return
			}
		}
		if err := runOp(w, tx); err == nil {
			shared = append(shared, i)
			continue
		}
		// Undo the whole run and do it again, each operation alone. The failed one
		// runs again too, on the same state as the first time.
		redo := append(shared, i)
		shared = nil
		if _, err := s.exec(ctx, tx, rollbackToShared); err != nil {
			_ = tx.Rollback() // already rolled back or beyond repair
			fail(err)
			return
		}
		if _, err := s.exec(ctx, tx, releaseShared); err != nil {
			_ = tx.Rollback() // the release error is the one to report
			fail(err)
			return
		}
		for _, j := range redo {
			if err := isolated(j); err != nil {
				_ = tx.Rollback() // the savepoint error is the one to report
				fail(err)
				return
			}
		}
	}
	if len(shared) > 0 {
		if _, err := s.exec(ctx, tx, releaseShared); err != nil {
			_ = tx.Rollback() // the release error is the one to report
			fail(err)
			return
		}
	}
	ran := 0
	for _, err := range results {
		if err == nil {
			ran++
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
	s.commits.Add(1)
	committed = true
}

// commitAlone runs the one operation of a group without a savepoint: if it fails, the
// whole transaction is rolled back, which undoes exactly that operation. A savepoint
// makes SQLite copy every page the operation changes into a sub-journal (to undo it
// alone) and costs two statements, work wasted when nothing else shares the commit,
// which is every write when the store is not busy.
func (s *Store) commitAlone(tx *sql.Tx, w *writeOp, result *error, committed *bool) {
	if err := w.ctx.Err(); err != nil {
		*result = err
		_ = tx.Rollback() // nothing was written
		*committed = true // nothing was to be committed: the op has its own result
		return
	}
	if err := runOp(w, tx); err != nil {
		*result = err
		_ = tx.Rollback() // the op's error is the one to report; a failed rollback leaves nothing committed either
		*committed = true // the op has its own result
		return
	}
	if err := tx.Commit(); err != nil {
		*result = err
		return
	}
	s.commits.Add(1)
	*committed = true
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
