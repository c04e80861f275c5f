package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// TestSharedSavepointUndoesFailureAlone queues one group of writes behind a write that
// holds the writer: repeatable ones, which share a savepoint, some of which fail after
// writing, and plain ones between them. Each failed write is undone alone, every other
// one is committed, and the repeatable writes that shared a run with a failure ran
// again (so the test saw the shared path, not only isolated ones).
func TestSharedSavepointUndoesFailureAlone(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	hold, held := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.inTx(ctx, "hold", func(context.Context, *sql.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held

	const n = 30
	errFail := errors.New("planned failure")
	fails := func(i int) bool { return i%7 == 3 }
	plain := func(i int) bool { return i%5 == 4 }
	runs := make([]atomic.Int32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			fn := func(ctx context.Context, tx *sql.Tx) error {
				runs[i].Add(1)
				if _, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)", fmt.Sprint("k", i), []byte("v")); err != nil {
					return err
				}
				if fails(i) {
					return errFail
				}
				return nil
			}
			if plain(i) {
				errs[i] = s.inTx(ctx, "test", fn)
			} else {
				errs[i] = s.inRepeatableTx(ctx, "test", fn)
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // every write is waiting for the writer
	close(hold)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatalf("holding write: %v", err)
	}

	repeated := 0
	for i, err := range errs {
		_, getErr := s.Setting(ctx, fmt.Sprint("k", i))
		if fails(i) != errors.Is(err, errFail) || fails(i) != (getErr != nil) {
			t.Errorf("write %d (fails: %v): error %v, stored %v", i, fails(i), err, getErr == nil)
		}
		if r := runs[i].Load(); r > 1 {
			repeated++
			if plain(i) {
				t.Errorf("write %d is not repeatable but ran %d times", i, r)
			}
		}
	}
	if repeated == 0 {
		t.Errorf("no write ran twice: the writes did not share a savepoint with a failure")
	}
}

// TestLoneRecordSharesNextCommit records an attempt while nothing else writes: the
// record waits for company rather than commit alone, a claim meanwhile runs at once
// without it, and the next write takes the record into its commit; the record returns
// only then, committed.
func TestLoneRecordSharesNextCommit(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	fillBacklog(t, s, 1, 2, false)
	s.recordLinger = time.Hour // the test's next write, not the bound, ends the wait

	claims, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: time.UnixMicro(10),
		LeaseUntil: time.Now().Add(time.Hour), Limit: 1})
	if err != nil || len(claims) != 1 {
		t.Fatalf("ClaimDue: %d claims, %v; want 1", len(claims), err)
	}
	before := s.commits.Load()
	recorded := make(chan error, 1)
	go func() {
		_, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "o", Status: herald.StatusSuccess,
			Attempt: herald.Attempt{DeliveryID: claims[0].Delivery.ID, StatusCode: 200, Success: true}})
		recorded <- err
	}()
	waitFor(t, "the writer to take the record", func() bool { return s.lingering.Load() })

	// A claim is not held up by the waiting record, and does not end its wait.
	more, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: time.UnixMicro(10),
		LeaseUntil: time.Now().Add(time.Hour), Limit: 1})
	if err != nil || len(more) != 1 || more[0].Delivery.ID == claims[0].Delivery.ID {
		t.Fatalf("ClaimDue while a record waits: %+v, %v; want the other delivery", more, err)
	}
	select {
	case err := <-recorded:
		t.Fatalf("the record returned (%v) before any write came to share its commit", err)
	default:
	}

	if err := s.PutSetting(ctx, "company", []byte("v")); err != nil {
		t.Fatalf("PutSetting: %v", err)
	}
	if err := <-recorded; err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	// The claim alone committed once; the record and the setting shared one commit.
	if got := s.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for a claim, a record and a setting; want 2 (the record sharing the setting's)", got)
	}
	d, err := s.Delivery(ctx, claims[0].Delivery.ID)
	if err != nil || d.Status != herald.StatusSuccess {
		t.Fatalf("delivery after its record returned: %+v, %v; want it succeeded", d, err)
	}
}

// TestLoneRecordWaitsBounded records an attempt with nothing else to write: it commits
// alone once its wait is over.
func TestLoneRecordWaitsBounded(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	fillBacklog(t, s, 1, 1, false)
	claims, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: time.UnixMicro(10),
		LeaseUntil: time.Now().Add(time.Hour), Limit: 1})
	if err != nil || len(claims) != 1 {
		t.Fatalf("ClaimDue: %d claims, %v; want 1", len(claims), err)
	}
	if _, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "o", Status: herald.StatusSuccess,
		Attempt: herald.Attempt{DeliveryID: claims[0].Delivery.ID, StatusCode: 200, Success: true}}); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	d, err := s.Delivery(ctx, claims[0].Delivery.ID)
	if err != nil || d.Status != herald.StatusSuccess {
		t.Fatalf("delivery after its record returned: %+v, %v; want it succeeded", d, err)
	}
}

// waitFor polls cond until it holds, failing the test after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRecordsKeepEachOtherCompany records two attempts one after the other: the second
// ends the first one's wait, and both commit together, so records that already share
// a commit never wait for more (each webhook's leases are held until their records
// commit).
func TestRecordsKeepEachOtherCompany(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	fillBacklog(t, s, 1, 2, false)
	s.recordLinger = time.Hour // only company ends the wait

	claims, err := s.ClaimDue(ctx, herald.ClaimRequest{Owner: "o", Now: time.UnixMicro(10),
		LeaseUntil: time.Now().Add(time.Hour), Limit: 2})
	if err != nil || len(claims) != 2 {
		t.Fatalf("ClaimDue: %d claims, %v; want 2", len(claims), err)
	}
	before := s.commits.Load()
	record := func(id string) error {
		_, err := s.RecordAttempt(ctx, &herald.AttemptRecord{Owner: "o", Status: herald.StatusSuccess,
			Attempt: herald.Attempt{DeliveryID: id, StatusCode: 200, Success: true}})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- record(claims[0].Delivery.ID) }()
	waitFor(t, "the writer to take the first record", func() bool { return s.lingering.Load() })
	if err := record(claims[1].Delivery.ID); err != nil {
		t.Fatalf("second RecordAttempt: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first RecordAttempt: %v", err)
	}
	if got := s.commits.Load() - before; got != 1 {
		t.Errorf("%d commits for two records, one after the other; want 1", got)
	}
}
