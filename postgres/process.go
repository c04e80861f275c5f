package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// Liveness timings. A process that dies on a host that lives (a crash, a SIGKILL, an
// OOM kill) loses its connection, and with it its advisory lock, at once: the next
// heartbeat of any survivor, within heartbeatEvery, finds it dead. A process whose host
// goes silent keeps its connection open on the server until TCP gives up on it, so it
// is found dead aliveFor after its last heartbeat instead.
const (
	heartbeatEvery = time.Second
	aliveFor       = 10 * time.Second
	// orphanSweepEvery is how often a process removes the leases of deliveries deleted
	// while leased, which no attempt record or release removes.
	orphanSweepEvery = time.Minute
	// leasesVacuumEvery is how often a process vacuums leases. Every delivery inserts
	// and deletes a lease, thousands a second, so the table is mostly dead rows unless
	// vacuumed far more often than autovacuum's defaults do (once a minute at best, or
	// never where it is off), and every claim that counts leases reads them.
	leasesVacuumEvery = 5 * time.Second
)

// maintainEvery is how often a process checks whether the tables Herald grows need a
// vacuum or new statistics; see maintainTables.
const maintainEvery = 5 * time.Second

// maintainedTables are the tables Herald grows, which its hot statements read.
var maintainedTables = []string{"deliveries", "events", "attempts", "idempotency_keys", "webhooks"}

// processID is what the store's leases name it by in the processes table.
func newProcessID() string { return herald.NewID("proc_") }

// livingLease holds of a lease, aliased l, that it still holds at the time $n (the
// caller's clock): it is not past its until, and its process is alive by the database's
// clock. A dead process's leases are expired, whatever their until.
func livingLease(now string) string {
	return `l.until > ` + now + ` AND EXISTS (SELECT 1 FROM processes p WHERE p.id = l.process AND p.alive_until > now())`
}

// register opens the connection that keeps this process alive, takes its advisory lock
// and inserts its row. The lock comes first: a survivor that sees the row sees the lock.
func (s *Store) register(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if err := s.lockAndInsert(ctx, conn); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx)) // the registration's error is the one to report
		return nil, fmt.Errorf("register process: %w", err)
	}
	return conn, nil
}

// lockAndInsert takes a free advisory lock key on conn and inserts (or, after the
// connection was lost and found again, replaces) this process's row with it.
func (s *Store) lockAndInsert(ctx context.Context, conn *pgx.Conn) error {
	for {
		key := rand.Int64N(1<<62) + 1 // positive, so pg_locks' halves rebuild it simply
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			return err
		}
		if !got {
			continue // another process's key: draw again
		}
		_, err := conn.Exec(ctx, `INSERT INTO processes (id, lock_key, alive_until, started_at)
			VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond', now())
			ON CONFLICT (id) DO UPDATE SET lock_key = excluded.lock_key, alive_until = excluded.alive_until`,
			s.process, key, aliveFor.Microseconds())
		if isUniqueViolation(err) {
			_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key) // a stale row holds the key: draw again
			continue
		}
		return err
	}
}

// heartbeat keeps this process alive and finds the dead ones, every heartbeatEvery, on
// conn, a connection of its own that holds the process's advisory lock, until the store
// closes; then it removes the process's row. When conn is lost, or the row is gone, it
// registers again on a new connection: meanwhile survivors may have taken its leases
// over, and an attempt in flight then finds, when recorded, that its lease is gone.
func (s *Store) heartbeat(conn *pgx.Conn) {
	defer close(s.heartbeatDone)
	timer := time.NewTimer(heartbeatEvery)
	defer timer.Stop()
	lastSweep, lastVacuum := time.Now(), time.Now()
	backoff := minBackoff
	for {
		select {
		case <-s.closing.Done():
			if conn != nil {
				s.unregister(conn)
			}
			return
		case <-timer.C:
		}
		if conn == nil {
			c, err := s.register(s.closing)
			if err != nil {
				backoff = min(2*backoff, maxBackoff)
				timer.Reset(backoff)
				continue
			}
			conn, backoff = c, minBackoff
		}
		sweep := time.Since(lastSweep) >= orphanSweepEvery
		err := s.beat(conn, sweep)
		if err == nil && sweep {
			lastSweep = time.Now()
		}
		if err == nil && time.Since(lastVacuum) >= leasesVacuumEvery {
			lastVacuum = time.Now()
			err = s.vacuumLeases(conn)
		}
		// Any error but these (a deadlock with a claim over a dead process's lease,
		// say) is met again, or not, at the next beat.
		if err != nil && (errors.Is(err, errUnregistered) || connectionLost(err) || conn.IsClosed()) {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx) // broken or not, it is replaced
			cancel()
			conn = nil
		}
		timer.Reset(heartbeatEvery)
	}
}

// errUnregistered says a process's row is gone: found dead by a survivor (its
// heartbeat stalled past aliveFor), or the table emptied by a crash of the database.
var errUnregistered = errors.New("process no longer registered")

// beat moves this process's alive_until forward, removes the processes found dead and
// their leases, and, when it removed any, tells every dispatcher that work is due now.
// With sweep it also removes the leases of deliveries deleted while leased.
func (s *Store) beat(conn *pgx.Conn, sweep bool) error {
	ctx, cancel := context.WithTimeout(s.closing, connectTimeout)
	defer cancel()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	tag, err := tx.Exec(ctx, `UPDATE processes SET alive_until = now() + $2::bigint * interval '1 microsecond' WHERE id = $1`,
		s.process, aliveFor.Microseconds())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errUnregistered
	}
	// The dead: their advisory lock is free, or their heartbeat stopped. pg_locks shows
	// an advisory lock on a bigint key as its high and low 32 bits.
	var dead int
	err = tx.QueryRow(ctx, `
		WITH dead AS (
			DELETE FROM processes p
			WHERE p.alive_until <= now() OR NOT EXISTS (
				SELECT 1 FROM pg_locks l
				WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
					AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
					AND (l.classid::bigint << 32 | l.objid::bigint) = p.lock_key)
			RETURNING p.id
		), freed AS (
			DELETE FROM leases WHERE process IN (SELECT id FROM dead) RETURNING 1
		)
		SELECT (SELECT count(*) FROM dead) + (SELECT count(*) FROM freed)`).Scan(&dead)
	if err != nil {
		return err
	}
	if dead > 0 {
		if err := notify(ctx, tx, s.now()); err != nil {
			return err
		}
	}
	if sweep {
		if _, err := tx.Exec(ctx, "DELETE FROM leases l WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = l.delivery_id)"); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// vacuumLeases vacuums and analyzes leases, unless another process is doing so. A
// failure is met again, or not, at the next one.
func (s *Store) vacuumLeases(conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(s.closing, connectTimeout)
	defer cancel()
	_, err := conn.Exec(ctx, "VACUUM (SKIP_LOCKED, ANALYZE) leases")
	return err
}

// maintain runs maintainTables every maintainEvery, on a connection of the pool and
// apart from the heartbeat, which a long vacuum must not hold up, until the store
// closes. A failure is met again, or not, at the next round.
func (s *Store) maintain() {
	defer close(s.maintainDone)
	ticker := time.NewTicker(maintainEvery)
	defer ticker.Stop()
	for {
		select {
		case <-s.closing.Done():
			return
		case <-ticker.C:
		}
		_ = s.maintainTables(s.closing) // see above: the next round tries again
		_ = s.unparkStranded(s.closing) // likewise
	}
}

// maintainTables vacuums or analyzes each of maintainedTables that needs it by
// autovacuum's own rules: vacuum once dead rows pass 50 and a fifth of the table,
// analyze once changes since the last analysis pass 50 and a tenth; it skips a table
// another process is already at. Herald does not rely on autovacuum, which many servers
// run rarely or not at all, and its hot statements degrade without it: a delivery
// attempted leaves its old version in the due indexes, which every claim walks in order
// until a vacuum removes it; without statistics the planner guesses; and a plan cached
// by a connection while a table was tiny (a sequential scan, say) is kept until the
// table's statistics change, however large the table grows. Where autovacuum runs it
// resets the same counters first, and this finds nothing to do.
func (s *Store) maintainTables(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, `SELECT t.relname, t.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
		FROM pg_stat_user_tables t JOIN pg_class c ON c.oid = t.relid
		WHERE t.schemaname = current_schema() AND t.relname = ANY($1)
			AND (t.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
				OR t.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0))`, maintainedTables)
	if err != nil {
		return err
	}
	var table string
	var vacuum bool
	type job struct {
		table  string
		vacuum bool
	}
	var jobs []job
	if _, err := pgx.ForEachRow(rows, []any{&table, &vacuum}, func() error {
		jobs = append(jobs, job{table, vacuum})
		return nil
	}); err != nil {
		return err
	}
	for _, j := range jobs {
		q := "ANALYZE (SKIP_LOCKED) "
		if j.vacuum {
			q = "VACUUM (SKIP_LOCKED, ANALYZE) "
		}
		if _, err := conn.Exec(ctx, q+pgx.Identifier{j.table}.Sanitize()); err != nil {
			return fmt.Errorf("maintain %s: %w", j.table, err)
		}
	}
	return nil
}

// unregister removes this process's row, so its leases are expired at once, and closes
// conn, which frees its lock. Leases are released by the dispatcher before; any left
// (attempts cut short) are taken over by the survivors now rather than after aliveFor.
func (s *Store) unregister(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// An error leaves the row to be found dead when the connection closes below.
	_, _ = conn.Exec(ctx, "DELETE FROM processes WHERE id = $1", s.process)
	_ = conn.Close(ctx) // closing frees the lock; an error there changes nothing
}
