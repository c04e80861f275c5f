package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// noticeChannel is where a transaction that commits due work says so, with pg_notify.
// The payload is when the work is due, in Unix microseconds as decimal text; an empty
// payload or 0 means now.
const noticeChannel = "herald_due"

// Listen's timings.
const (
	// quietCheck is how long Listen waits for a notice before it makes sure its
	// connection is still alive: a connection that died without a word (a cable pulled,
	// a NAT that forgot it) would otherwise be waited on forever.
	quietCheck = 30 * time.Second
	// connectTimeout bounds connecting and starting to listen.
	connectTimeout = 10 * time.Second
	// The wait before connecting again doubles from minBackoff to maxBackoff while the
	// database stays out of reach.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Listen calls due each time any process commits deliveries that become due, with when
// they are due, until ctx ends or the store is closed; then it returns nil. It listens on
// a connection of its own, outside the pool. Each time it starts listening, the first
// time included, it calls due once with the zero time: notices sent before then were
// not heard (work committed between the caller's first claim and the first LISTEN, or
// while a lost connection was down), so work may be due now. When its connection is
// lost it connects again, waiting longer between tries while the database stays away.
func (s *Store) Listen(ctx context.Context, due func(at time.Time)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	backoff := minBackoff
	for {
		// A connection that cannot be had, or is lost, is what Listen exists to get
		// over: it tries again, so the error says nothing its caller could act on.
		if conn, err := s.listen(ctx); err == nil {
			due(time.Time{})
			backoff = minBackoff
			s.wait(ctx, conn, due)
			closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = conn.Close(closeCtx) // the connection is done with, broken or not
			cancelClose()
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen opens a connection of its own, configured as the pool's, and listens on it.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{noticeChannel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx)) // the LISTEN error is the one to report
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// wait hands the notices that arrive on conn to due until ctx ends or the connection
// fails.
func (s *Store) wait(ctx context.Context, conn *pgx.Conn, due func(at time.Time)) {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, quietCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			due(noticeTime(n.Payload, s.clock.Now()))
			continue
		case ctx.Err() != nil, !pgconn.Timeout(err), conn.IsClosed():
			return
		}
		// Quiet for a while: make sure the connection still answers.
		pingCtx, cancel := context.WithTimeout(ctx, connectTimeout)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return
		}
	}
}

// noticeTime is when a notice's payload says the work is due: now when it says nothing.
func noticeTime(payload string, now time.Time) time.Time {
	us, err := strconv.ParseInt(payload, 10, 64)
	if err != nil || us <= 0 {
		return now.UTC()
	}
	return time.UnixMicro(us).UTC()
}

// notify queues in tx the notice that deliveries are due at at; PostgreSQL sends it when,
// and only if, tx commits.
func notify(ctx context.Context, tx pgx.Tx, at time.Time) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", noticeChannel, strconv.FormatInt(at.UnixMicro(), 10))
	return err
}

// announce tells the other processes, after a publish committed, that work is due now.
// A publish does not notify inside its transaction: PostgreSQL serializes every
// notifying commit on one lock, fsync included, which halved the rate of concurrent
// publishes. Announcements are coalesced instead: one pg_notify at a time, however many
// publishes commit meanwhile. The publishing process wakes its own dispatcher itself,
// and a lost announcement only delays the others until their next poll.
func (s *Store) announce(due time.Time) {
	s.announceMu.Lock()
	if s.announceDue.IsZero() || due.Before(s.announceDue) {
		s.announceDue = due
	}
	s.announceMu.Unlock()
	select {
	case s.announcements <- struct{}{}:
	default: // one is pending already: it covers this publish too
	}
}

// announceLoop sends the announcements until the store closes.
func (s *Store) announceLoop() {
	for {
		select {
		case <-s.closing.Done():
			return
		case <-s.announcements:
		}
		s.announceMu.Lock()
		due := s.announceDue
		s.announceDue = time.Time{}
		s.announceMu.Unlock()
		ctx, cancel := context.WithTimeout(s.closing, 5*time.Second)
		// An error loses one announcement, which only delays, see announce.
		_, _ = s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", noticeChannel, strconv.FormatInt(due.UnixMicro(), 10))
		cancel()
	}
}
