// Package sqlite implements herald.Store on an embedded SQLite database file, so a single
// `herald serve` needs nothing else to run.
//
// The file is opened in WAL mode with synchronous=FULL: once a write method returns, its
// transaction is on disk and survives a crash or a power loss. Every write runs in a
// BEGIN IMMEDIATE transaction on a single connection, and reads run on a separate pool,
// so writers queue for the file's write lock up front instead of failing a lock upgrade
// half way.
//
// A Store assumes it is the only one using its file: one process, holding the file's
// data directory with LockDir (herald serve does, for its whole life), and one Store in
// it. Its leases are therefore in its memory, not in the file: claiming a delivery
// writes nothing, and no lease outlives the process that took it, so after a crash
// every delivery not recorded is due again as soon as the next process starts. Two
// Stores on one file would each lease the same deliveries and send them twice. The
// lease_owner and lease_until columns of deliveries are left unused. Commands that only
// read, such as a backup, may open the file beside the Store.
//
// Times are stored as Unix microseconds and come back in UTC. Webhook secrets are sealed
// with the herald.Cipher given to Open and never written in plaintext.
package sqlite
