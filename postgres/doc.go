// Package postgres implements herald.Store on PostgreSQL, so that any number of Herald
// processes can share one database and its work.
//
// Open takes a postgres:// URL. pgx reads its parameters: pool_max_conns sizes the
// connection pool, and search_path puts Herald's tables in a schema of their own
// (?search_path=herald). Open applies the embedded migrations with goose under a session
// advisory lock, so processes that start together migrate once and the rest wait.
//
// Claims lock the due deliveries they lease with FOR NO KEY UPDATE SKIP LOCKED: claimers
// in any number of processes never wait for each other and never lease one delivery
// twice. A claim with a per-webhook cap also takes a transaction advisory lock on each
// webhook it leases from, without waiting, so the cap, which counts every process's
// leases, holds while several processes claim at the same moment. A lease is a row of
// the UNLOGGED table leases, not a change to the delivery, so claiming rewrites none of
// the deliveries' indexes.
//
// Every store registers its process in the UNLOGGED table processes, holds a session
// advisory lock for it on a connection of its own, and renews it every second by the
// database's clock. A lease holds only while its process lives: when a process dies its
// connection closes and its lock is freed, and the next heartbeat of any survivor, within
// a second, removes it and announces its work; a process whose host went silent is
// dead ten seconds after its last heartbeat. Its leases, however long, then neither
// hold their deliveries nor count against a webhook's cap.
//
// Attempts recorded at the same moment share one transaction, each applied as if
// alone and in turn, so that a busy dispatcher pays for a transaction per batch of
// attempts rather than per attempt, and writes them with one statement per table.
//
// Herald does not rely on autovacuum. Every five seconds each process vacuums leases,
// and vacuums or analyzes the tables it grows (deliveries, events, attempts,
// idempotency_keys, webhooks) that have passed autovacuum's own thresholds since it
// last ran, skipping a table another process is at: claims walk the due indexes, which
// keep a delivered delivery's old version until a vacuum, and cached plans are made
// again only when a table's statistics change. Where autovacuum runs, it gets there
// first and this does nothing.
//
// Writers that lock both a webhook and its deliveries lock the webhook first, so they do
// not deadlock; serialization failures and deadlocks that happen anyway (SQLSTATE 40001,
// 40P01), and connections lost before COMMIT, make the store run the transaction again.
//
// Work that becomes due is announced with pg_notify on the channel herald_due, in the
// transaction that commits it, so a notice is only ever sent for committed work; Listen
// hears them for the dispatcher. PublishTx publishes inside a caller's own transaction
// (a transactional outbox): the events and deliveries exist if and only if the caller
// commits.
//
// Times are timestamptz, truncated to microseconds and returned in UTC. Webhook secrets
// are sealed with the herald.Cipher given to Open and never written in plaintext. Errors
// that mean the database cannot serve now (a lost connection, a shutdown, a timeout) carry
// herald.EUNAVAILABLE; the pool replaces broken connections by itself, so the store works
// again as soon as the database does.
package postgres
