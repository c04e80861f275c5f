// Package bench is `herald bench`: it measures Herald on the machine it runs on.
//
// Each scenario starts its own `herald serve` child processes (the binary given with
// --herald-bin, by default the running one) on a fresh SQLite file or PostgreSQL
// database, drives them through the public API against a Receiver in this process,
// and reports its figures beside the targets they are held to: a table for people,
// then one JSON line (Report) for scripts. Server CPU is read from /proc, so the CPU
// figures exist on Linux only.
//
// Receiver is also the counting endpoint of the command's crash, scale-out and chaos
// tests, so benchmarks and tests count arrivals one way.
package bench
