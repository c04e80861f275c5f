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
