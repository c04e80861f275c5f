package main

import (
	"context"
	"io"

	"github.com/heraldhq/herald/bench"
)

// runBench is `herald bench`: the harness is package bench, which starts this same
// binary as its `herald serve` processes.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return bench.Run(ctx, args, stdout, stderr, getenv)
}
