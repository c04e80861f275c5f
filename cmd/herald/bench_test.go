package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/bench"
)

// benchSmokeServeEnv, set in its environment, makes this test binary act as the herald
// binary: `herald bench` starts its servers by running its own executable, which under
// `go test` is the test binary. Building the real binary instead would cost the smoke
// test more than the whole run. (Not HERALD_*: bench passes no HERALD_* variable on.)
const benchSmokeServeEnv = "BENCH_SMOKE_RUN_AS_HERALD"

func init() {
	if os.Getenv(benchSmokeServeEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestBenchSmoke runs `herald bench --short` through run, with every scenario (the
// PostgreSQL one when HERALD_TEST_POSTGRES_URL is set), and checks the JSON line has
// each with figures that make sense: the suite must keep working, not be fast here.
func TestBenchSmoke(t *testing.T) {
	t.Setenv(benchSmokeServeEnv, "1")
	pg := os.Getenv("HERALD_TEST_POSTGRES_URL")
	getenv := func(k string) string {
		if k == "HERALD_BENCH_POSTGRES_URL" {
			return pg
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(t.Context(), []string{"bench", "--short"}, &stdout, &stderr, getenv)
	t.Logf("herald bench --short took %s\n%s%s", time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("herald bench --short: %v", err)
	}

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var rep bench.Report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("the last line of the output is not the JSON report: %v\n%s", err, lines[len(lines)-1])
	}
	if !strings.Contains(stdout.String(), "SCENARIO") || !strings.Contains(stdout.String(), "TARGET") {
		t.Errorf("no table before the JSON line:\n%s", stdout.String())
	}
	if !rep.Short || rep.Mode != "embedded" || len(rep.Errors) > 0 {
		t.Errorf("report: short %v, mode %q, errors %v; want a short embedded run without errors", rep.Short, rep.Mode, rep.Errors)
	}

	positive := func(name string, v float64) {
		t.Helper()
		if !(v > 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if rep.Raw == nil || len(rep.Raw.Runs) != 2 {
		t.Fatalf("raw: %+v, want runs at two concurrencies", rep.Raw)
	}
	for _, r := range rep.Raw.Runs {
		positive(fmt.Sprintf("raw at %d", r.Concurrency), r.PerSecond)
	}
	if f := rep.Filter; f == nil {
		t.Error("filter missing")
	} else {
		positive("filter unfiltered publish ms", f.UnfilteredMS)
		positive("filter filtered publish ms", f.FilteredMS)
		positive("filter ratio", f.Ratio)
	}
	if e := rep.E2E; e == nil {
		t.Error("e2e missing")
	} else {
		positive("e2e single deliveries/s", e.SinglePerSecond)
		positive("e2e batch publish events/s", e.BatchPublishPerSecond)
		positive("e2e batch deliveries/s", e.BatchPerSecond)
		positive("e2e ratio to raw", e.RatioToRaw)
		if e.RatioToRaw > 1.5 {
			t.Errorf("e2e ratio to raw %v: Herald cannot beat a plain client on the same receiver by that much", e.RatioToRaw)
		}
		positive("e2e batch ratio to raw", e.BatchRatioToRaw)
		if runtime.GOOS == "linux" {
			positive("e2e server CPU per delivery, single", e.SingleServerCPUMS)
			positive("e2e server CPU per delivery, batch", e.BatchServerCPUMS)
		}
		if m := e.Many; m == nil || m.Webhooks < 2 || m.RawConcurrency != 128 {
			t.Errorf("e2e many endpoints: %+v, want several webhooks compared with raw at 128", m)
		} else {
			positive("e2e many single deliveries/s", m.SinglePerSecond)
			positive("e2e many single ratio to raw", m.SingleRatioToRaw)
			positive("e2e many batch deliveries/s", m.BatchPerSecond)
			positive("e2e many batch ratio to raw", m.BatchRatioToRaw)
			if m.SingleEvents < 1 || m.BatchEvents < 1 {
				t.Errorf("e2e many endpoints: %d single and %d batch events, want some of each", m.SingleEvents, m.BatchEvents)
			}
		}
	}
	if rates := latencyRates(rep.Latency); !slices.Equal(rates, []float64{100, 1000}) {
		t.Errorf("latency rates %v, want [100 1000]", rates)
	}
	for _, l := range rep.Latency {
		positive(fmt.Sprintf("latency p50 at %g/s", l.Rate), l.P50MS)
		if !(l.P50MS <= l.P90MS && l.P90MS <= l.P99MS && l.P99MS <= l.MaxMS) {
			t.Errorf("latency at %g/s: p50 %v, p90 %v, p99 %v, max %v are not in order", l.Rate, l.P50MS, l.P90MS, l.P99MS, l.MaxMS)
		}
		// At 100/s a short run is 50 deliveries, which an efficient server serves in
		// less than one clock tick of /proc; at 1,000/s there are ten times as many.
		if l.Rate == 1000 && runtime.GOOS == "linux" {
			positive("latency server CPU per delivery at 1000/s", l.ServerCPUMS)
		}
	}
	if f := rep.FanOut; f == nil || f.Webhooks < 2 {
		t.Errorf("fanout: %+v", f)
	} else {
		positive("fanout deliveries/s", f.PerSecond)
	}
	if bl := rep.Backlog; bl == nil {
		t.Error("backlog missing")
	} else {
		if len(bl.TenthsPerSecond) != 10 {
			t.Errorf("backlog tenths %v, want 10", bl.TenthsPerSecond)
		}
		for i, v := range bl.TenthsPerSecond {
			positive(fmt.Sprintf("backlog tenth %d", i+1), v)
		}
		positive("backlog publish events/s", bl.PublishEventsPerSecond)
		positive("backlog drain/s", bl.DrainPerSecond)
		if runtime.GOOS == "linux" {
			positive("backlog peak RSS", bl.PeakRSSMB)
			positive("backlog drain server CPU per delivery", bl.DrainServerCPUMS)
		}
	}
	if iso := rep.Isolation; iso == nil || iso.Hanging == 0 {
		t.Errorf("isolation: %+v", iso)
	} else {
		positive("isolation healthy p99", iso.HealthyP99MS)
		if iso.HealthyDeliveries != int(iso.Rate/2)*(iso.Webhooks-iso.Hanging)/iso.Webhooks {
			t.Errorf("isolation: %d healthy deliveries measured, want the healthy nine tenths of %g", iso.HealthyDeliveries, iso.Rate)
		}
	}
	if h := rep.Hostile; h == nil {
		t.Error("hostile missing")
	} else {
		if h.WebhooksCreated < 1 || h.WebhooksCreated > h.WebhooksWanted ||
			(h.WebhooksCreated < h.WebhooksWanted) != (h.RefusedStatus == 409 || h.RefusedStatus == 422) {
			t.Errorf("hostile: created %d of %d webhooks, refused with %d; want all, or fewer and a 409 or 422",
				h.WebhooksCreated, h.WebhooksWanted, h.RefusedStatus)
		}
		if h.HealthyDeliveries != int(h.Rate/2) {
			t.Errorf("hostile: %d healthy deliveries measured, want %g (half a second at %g/s)", h.HealthyDeliveries, h.Rate/2, h.Rate)
		}
		positive("hostile healthy p99", h.HealthyP99MS)
	}
	switch {
	case pg != "" && rep.Postgres == nil:
		t.Error("postgres missing though HERALD_TEST_POSTGRES_URL is set")
	case pg != "":
		positive("postgres 1 process", rep.Postgres.OneProcess)
		positive("postgres 3 processes", rep.Postgres.ThreeProcesses)
		if runtime.GOOS == "linux" {
			positive("postgres CPU per delivery, 1 process", rep.Postgres.OnePostgresCPUMS)
			positive("postgres CPU per delivery, 3 processes", rep.Postgres.ThreePostgresCPUMS)
			positive("postgres projection per database core", rep.Postgres.PerDatabaseCore)
			positive("server CPU per delivery, 1 process on PostgreSQL", rep.Postgres.OneServerCPUMS)
		}
	case rep.Skipped["postgres"] == "":
		t.Errorf("postgres neither run nor skipped: %+v", rep.Skipped)
	}
	keys := []string{"1_e2e_ratio_to_raw", "2_p50_ms_at_100", "2_p99_ms_at_1000", "3_batch_publish_events_per_s",
		"4_backlog_last_to_first_tenth", "5_isolation_healthy_p99_ms", "7_e2e_batch_ratio_to_raw",
		"7_e2e_many_single_ratio_to_raw", "7_e2e_many_batch_ratio_to_raw", "10_hostile_healthy_p99_ms"}
	if runtime.GOOS == "linux" {
		keys = append(keys, "8_server_cpu_ms_per_delivery_full_speed")
		if pg != "" {
			keys = append(keys, "9_postgres_cpu_ms_per_delivery", "9_postgres_1_process_deliveries_per_s")
		}
	}
	for _, key := range keys {
		if _, ok := rep.Verdicts[key]; !ok {
			t.Errorf("no verdict for target %s", key)
		}
	}
}

func latencyRates(ls []bench.LatencyResult) []float64 {
	var out []float64
	for _, l := range ls {
		out = append(out, l.Rate)
	}
	return out
}

// TestBenchFlags checks the flags refused before anything starts.
func TestBenchFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenarios", "raw,nope"}, `unknown scenario "nope"`},
		{[]string{"--scenarios", ","}, "none given"},
		{[]string{"--server", "http://127.0.0.1:1"}, "--server needs --api-key"},
		{[]string{"--database-url", "mysql://x"}, "want a postgres:// URL"},
		{[]string{"--duration", "0s"}, "want more than 0"},
		{[]string{"--backlog-size", "3"}, "want at least 10"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		var stderr bytes.Buffer
		err := run(t.Context(), append([]string{"bench"}, tc.args...), &bytes.Buffer{}, &stderr, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
