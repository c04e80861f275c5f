package main

import (
	"log/slog"
	"os"
	"runtime/pprof"
)

// startCPUProfile starts profiling into path (nothing when path is empty) and returns
// the function that stops and writes it, to be deferred by serve. serve reads path from
// bench.CPUProfileEnv, which `herald bench --cpuprofile-dir` sets for the servers it
// starts.
func startCPUProfile(path string, logger *slog.Logger) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		logger.Warn("cpu profile: not written", "path", path, "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logger.Warn("cpu profile: not written", "path", path, "err", err)
		_ = f.Close() // nothing was written to it
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			logger.Warn("cpu profile: write", "path", path, "err", err)
		}
	}
}
