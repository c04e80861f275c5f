package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// Batching of attempt records.
const (
	// recordBatchMax bounds the attempts one transaction records.
	recordBatchMax = 64
	// recordWriters is how many batches may be in flight at once: while one commits,
	// the attempts that finish meanwhile gather into the next.
	recordWriters = 2
)

// pendingRecord is one RecordAttempt call waiting for its batch.
type pendingRecord struct {
	r *herald.AttemptRecord

	out       herald.AttemptOutcome
	attemptID string // as stored
	err       error
	done      chan struct{}
}

// recorder gathers the attempts recorded at the same moment into one transaction, as a
// group commit does: a transaction, its locks and its round trips cost about as much
// for many attempts as for one, and attempt records are most of the database's work.
// Nothing waits to fill a batch: a record finds a writer free and goes at once, alone,
// or finds both busy and joins the next batch, which starts as soon as one is free.
type recorder struct {
	store *Store

	mu      sync.Mutex
	queue   []*pendingRecord
	writers int // batches being written

	// running counts the writer goroutines, so that Close waits for the records in
	// flight before this process unregisters and others take its leases.
	running sync.WaitGroup
}

// record queues p and returns its outcome once its batch is committed or has failed.
func (rc *recorder) record(ctx context.Context, p *pendingRecord) (herald.AttemptOutcome, error) {
	p.done = make(chan struct{})
	rc.mu.Lock()
	rc.queue = append(rc.queue, p)
	if rc.writers < recordWriters {
		rc.writers++
		rc.running.Go(rc.write)
	}
	rc.mu.Unlock()
	select {
	case <-p.done:
		return p.out, p.err
	case <-ctx.Done():
		// The record may still commit: the caller learns only that it did not wait.
		return herald.AttemptOutcome{}, ctx.Err()
	}
}

// write records batches until the queue is empty.
func (rc *recorder) write() {
	for {
		batch := rc.next()
		if batch == nil {
			return
		}
		rc.store.recordAll(batch)
		for _, p := range batch {
			close(p.done)
		}
	}
}

// next takes the next batch off the queue: up to recordBatchMax records, at most one
// per delivery, so that each sees the one before it committed; or nil, and this writer
// ends, when the queue is empty.
func (rc *recorder) next() []*pendingRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.queue) == 0 {
		rc.writers--
		return nil
	}
	var batch, rest []*pendingRecord
	seen := map[string]bool{}
	for _, p := range rc.queue {
		if len(batch) == recordBatchMax || seen[p.r.Attempt.DeliveryID] {
			rest = append(rest, p)
			continue
		}
		seen[p.r.Attempt.DeliveryID] = true
		batch = append(batch, p)
	}
	rc.queue = rest
	return batch
}

// recordAll records batch in one transaction. If that fails, each record is tried on
// its own, so that one that cannot be recorded (a duplicate attempt id, say) fails
// alone and gets its own error.
func (s *Store) recordAll(batch []*pendingRecord) {
	// The attempts happened: their records must not be cut short by a caller going away.
	ctx := context.WithoutCancel(s.closing)
	run := func(ps []*pendingRecord) error {
		op := "record attempt of " + ps[0].r.Attempt.DeliveryID
		if len(ps) > 1 {
			op = "record attempts"
		}
		return s.inTx(ctx, op, func(ctx context.Context, tx pgx.Tx) error { return s.recordBatch(ctx, tx, ps) })
	}
	err := run(batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].err = recordError(err, batch[0])
		return
	}
	for _, p := range batch {
		if err := run([]*pendingRecord{p}); err != nil {
			p.err = recordError(err, p)
		}
	}
}

// recordError is the error of one record whose transaction failed.
func recordError(err error, p *pendingRecord) error {
	if isUniqueViolation(err) {
		return conflict("attempt", p.attemptID)
	}
	return err
}
