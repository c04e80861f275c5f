// Package sqlite implements herald.Store on an embedded SQLite database file, so a single
// `herald serve` needs nothing else to run.
//
// The file is opened in WAL mode with synchronous=FULL: once a write method returns, its
// transaction is on disk and survives a crash or a power loss. Every write runs in a
// BEGIN IMMEDIATE transaction on a single connection, and reads run on a separate pool,
// so writers queue for the file's write lock up front instead of failing a lock upgrade
// half way. Several processes may open the same file: claims stay exclusive because
// choosing and leasing deliveries happen in one such transaction.
//
// Times are stored as Unix microseconds and come back in UTC. Webhook secrets are sealed
// with the herald.Cipher given to Open and never written in plaintext.
package sqlite
