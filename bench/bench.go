package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald"
)

// scenarioNames are the scenarios `herald bench` knows, in the order it runs them.
var scenarioNames = []string{"raw", "e2e", "latency", "fanout", "filter", "backlog", "isolation", "hostile", "postgres"}

// config is what `herald bench` is configured with.
type config struct {
	server      string // a running Herald to drive instead of starting processes
	apiKey      string // its admin key
	receiver    string // an external receiver instead of the in-process one
	databaseURL string // PostgreSQL to make fresh databases in; empty skips the postgres scenario
	heraldBin   string // the binary started as `herald serve`
	scenarios   []string
	duration    time.Duration
	backlogSize int
	short       bool
	profileDir  string // when set, each started server writes a CPU profile here
}

// usage is printed by `herald bench -h`.
const usage = `Usage: herald bench [flags]

Measures Herald on this machine: a raw net/http baseline against the same receiver, then
end-to-end throughput (one endpoint and many), latency, fan-out, a backlog drain,
endpoint isolation and a hostile tenant, each against a fresh 'herald serve' process on
a new SQLite database (and PostgreSQL with --database-url), with the server's CPU per
delivery. Prints a table, then one JSON line with every figure.

Flags:
`

func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("herald bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	scenarios := fs.String("scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios to run: "+strings.Join(scenarioNames, ", "))
	fs.StringVar(&c.server, "server", "", "drive this running Herald (its URL) instead of starting herald serve processes; scenarios that need their own processes are skipped")
	fs.StringVar(&c.apiKey, "api-key", "", "admin API key of --server")
	fs.StringVar(&c.receiver, "receiver", "", "an external receiver URL that answers 2xx, instead of the in-process one (latency, isolation and hostile need the in-process one)")
	fs.StringVar(&c.databaseURL, "database-url", "", "postgres:// URL of a server where the postgres scenario may create (and drops) its own databases (HERALD_BENCH_POSTGRES_URL)")
	fs.StringVar(&c.heraldBin, "herald-bin", "", "binary to start as herald serve (default: this one)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each throughput and latency run publishes")
	fs.IntVar(&c.backlogSize, "backlog-size", 1_000_000, "deliveries the backlog scenario accumulates, then drains")
	fs.BoolVar(&c.short, "short", false, "tiny sizes, a few seconds in all: a smoke test, not a measurement")
	fs.StringVar(&c.profileDir, "cpuprofile-dir", "", "write a CPU profile of every started server to this directory (<scenario>.pprof)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.databaseURL == "" {
		c.databaseURL = getenv("HERALD_BENCH_POSTGRES_URL")
	}
	if c.databaseURL != "" && !isPostgres(c.databaseURL) {
		return nil, fmt.Errorf("--database-url %q: want a postgres:// URL", c.databaseURL)
	}
	if c.server != "" && c.apiKey == "" {
		return nil, errors.New("--server needs --api-key, the server's admin key")
	}
	if c.duration <= 0 {
		return nil, fmt.Errorf("--duration %s: want more than 0", c.duration)
	}
	if c.backlogSize < 10 {
		return nil, fmt.Errorf("--backlog-size %d: want at least 10", c.backlogSize)
	}
	for _, s := range strings.Split(*scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(scenarioNames, s) {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q; want some of %s", s, strings.Join(scenarioNames, ","))
		}
		c.scenarios = append(c.scenarios, s)
	}
	if len(c.scenarios) == 0 {
		return nil, errors.New("--scenarios: none given")
	}
	if c.short {
		c.duration = min(c.duration, 500*time.Millisecond)
		c.backlogSize = min(c.backlogSize, 2000)
	}
	if c.heraldBin == "" {
		bin, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this binary to start herald serve: %w (use --herald-bin)", err)
		}
		c.heraldBin = bin
	}
	return c, nil
}

// Report is everything one run measured: the JSON line `herald bench` ends with.
type Report struct {
	Version   string             `json:"version"`
	Short     bool               `json:"short"`
	CPUs      int                `json:"cpus"`
	Mode      string             `json:"mode"` // embedded or server
	Started   time.Time          `json:"started"`
	Seconds   float64            `json:"seconds"`
	Raw       *RawResult         `json:"raw,omitempty"`
	E2E       *E2EResult         `json:"e2e,omitempty"`
	Latency   []LatencyResult    `json:"latency,omitempty"`
	FanOut    *FanOutResult      `json:"fanout,omitempty"`
	Filter    *FilterResult      `json:"filter,omitempty"`
	Backlog   *BacklogResult     `json:"backlog,omitempty"`
	Isolation *IsolationResult   `json:"isolation,omitempty"`
	Hostile   *HostileResult     `json:"hostile,omitempty"`
	Postgres  *PostgresResult    `json:"postgres,omitempty"`
	Skipped   map[string]string  `json:"skipped,omitempty"` // scenario → why
	Errors    map[string]string  `json:"errors,omitempty"`  // scenario → what went wrong
	Verdicts  map[string]Verdict `json:"targets"`
}

// Verdict is one target beside the figure that meets or misses it.
type Verdict struct {
	Figure float64 `json:"figure"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

// Run is `herald bench`: it parses args as the command's flags, runs the scenarios and
// prints their table and JSON line to stdout; progress goes to stderr. getenv reads the
// environment (HERALD_BENCH_POSTGRES_URL). It fails when a flag is wrong or a scenario
// failed, after printing what the others measured.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := parseFlags(args, stderr, getenv)
	if err != nil {
		return err
	}
	b, err := newHarness(cfg, stderr)
	if err != nil {
		return err
	}
	defer b.close()

	rep := &Report{
		Version: herald.Version, Short: cfg.short, CPUs: runtime.NumCPU(), Mode: "embedded",
		Started: time.Now().UTC().Truncate(time.Second), Skipped: map[string]string{}, Errors: map[string]string{},
	}
	if cfg.server != "" {
		rep.Mode = "server"
	}
	run := func(name string, fn func(context.Context) error) {
		if !slices.Contains(cfg.scenarios, name) || ctx.Err() != nil {
			return
		}
		b.logf("scenario %s", name)
		// Write out what the scenario before left dirty (the backlog's is a gigabyte of
		// SQLite pages) so that its writeback does not weigh on this one's figures.
		syscall.Sync()
		if err := fn(ctx); err != nil {
			if errors.Is(err, errSkipped) {
				rep.Skipped[name] = strings.TrimPrefix(err.Error(), errSkipped.Error()+": ")
				b.logf("  skipped: %s", rep.Skipped[name])
				return
			}
			rep.Errors[name] = err.Error()
			b.logf("  failed: %v", err)
		}
	}
	// The raw baseline always runs first when e2e runs: e2e is a ratio to it.
	if slices.Contains(cfg.scenarios, "e2e") && !slices.Contains(cfg.scenarios, "raw") {
		cfg.scenarios = append(cfg.scenarios, "raw")
	}
	run("raw", func(ctx context.Context) (err error) { rep.Raw, err = b.raw(ctx); return err })
	run("e2e", func(ctx context.Context) (err error) { rep.E2E, err = b.endToEnd(ctx, rep.Raw); return err })
	run("latency", func(ctx context.Context) (err error) { rep.Latency, err = b.latency(ctx); return err })
	run("fanout", func(ctx context.Context) (err error) { rep.FanOut, err = b.fanOut(ctx); return err })
	run("filter", func(ctx context.Context) (err error) { rep.Filter, err = b.filterFanOut(ctx); return err })
	run("backlog", func(ctx context.Context) (err error) { rep.Backlog, err = b.backlog(ctx); return err })
	run("isolation", func(ctx context.Context) (err error) { rep.Isolation, err = b.isolation(ctx); return err })
	run("hostile", func(ctx context.Context) (err error) { rep.Hostile, err = b.hostile(ctx); return err })
	run("postgres", func(ctx context.Context) (err error) { rep.Postgres, err = b.postgres(ctx); return err })
	rep.Seconds = round(time.Since(rep.Started).Seconds(), 1)
	rep.Verdicts = verdicts(rep)

	writeBenchTable(stdout, rep)
	line, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n", line)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench interrupted: %w", err)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d scenario(s) failed: %s", len(rep.Errors), strings.Join(slices.Sorted(maps.Keys(rep.Errors)), ", "))
	}
	return nil
}

// errSkipped marks a scenario that cannot run in this configuration.
var errSkipped = errors.New("skipped")

func skip(why string) error { return fmt.Errorf("%w: %s", errSkipped, why) }

// verdicts sets each target beside its figure. Figures that could not be measured (a
// CPU figure without /proc, say) get none.
func verdicts(r *Report) map[string]Verdict {
	v := map[string]Verdict{}
	if r.E2E != nil && r.E2E.RatioToRaw > 0 {
		v["1_e2e_ratio_to_raw"] = Verdict{round(r.E2E.RatioToRaw, 3), ">= 0.5", r.E2E.RatioToRaw >= 0.5}
	}
	for _, l := range r.Latency {
		switch l.Rate {
		case 1000:
			v["2_p99_ms_at_1000"] = Verdict{l.P99MS, "<= 25", l.P99MS <= 25}
		case 100:
			v["2_p50_ms_at_100"] = Verdict{l.P50MS, "<= 5", l.P50MS <= 5}
		}
	}
	if r.E2E != nil && r.E2E.BatchPublishPerSecond > 0 {
		best := max(r.E2E.BatchPublishPerSecond, 0)
		if r.Backlog != nil {
			best = max(best, r.Backlog.PublishEventsPerSecond)
		}
		v["3_batch_publish_events_per_s"] = Verdict{round(best, 0), ">= 20000", best >= 20000}
	}
	if r.Backlog != nil {
		v["4_backlog_last_to_first_tenth"] = Verdict{round(r.Backlog.LastToFirstTenth, 3), ">= 0.8", r.Backlog.LastToFirstTenth >= 0.8}
		if r.Backlog.PeakRSSMB > 0 {
			v["4_backlog_peak_rss_mb"] = Verdict{r.Backlog.PeakRSSMB, "<= 300", r.Backlog.PeakRSSMB <= 300}
		}
	}
	if r.Isolation != nil {
		v["5_isolation_healthy_p99_ms"] = Verdict{r.Isolation.HealthyP99MS, "<= 50", r.Isolation.HealthyP99MS <= 50}
	}
	if r.Postgres != nil {
		v["6_postgres_3_to_1_processes"] = Verdict{round(r.Postgres.Ratio, 2), ">= 1.8", r.Postgres.Ratio >= 1.8}
	}
	atMost := func(key string, figure, target float64) {
		if figure > 0 {
			v[key] = Verdict{figure, fmt.Sprintf("<= %g", target), figure <= target}
		}
	}
	atLeast := func(key string, figure, target float64) {
		if figure > 0 {
			v[key] = Verdict{figure, fmt.Sprintf(">= %g", target), figure >= target}
		}
	}
	if e := r.E2E; e != nil {
		atLeast("7_e2e_batch_ratio_to_raw", round(e.BatchRatioToRaw, 3), 0.5)
		if m := e.Many; m != nil {
			atLeast("7_e2e_many_single_ratio_to_raw", round(m.SingleRatioToRaw, 3), 0.5)
			atLeast("7_e2e_many_batch_ratio_to_raw", round(m.BatchRatioToRaw, 3), 0.5)
		}
		atMost("8_server_cpu_ms_per_delivery_full_speed", e.SingleServerCPUMS, 0.1)
	}
	for _, l := range r.Latency {
		if l.Rate == 100 {
			atMost("8_server_cpu_ms_per_delivery_at_100", l.ServerCPUMS, 0.3)
		}
	}
	if p := r.Postgres; p != nil {
		atMost("9_postgres_cpu_ms_per_delivery", p.OnePostgresCPUMS, 0.25)
		atLeast("9_postgres_1_process_deliveries_per_s", p.OneProcess, 3000)
	}
	if h := r.Hostile; h != nil {
		atMost("10_hostile_healthy_p99_ms", h.HealthyP99MS, 50)
	}
	if f := r.Filter; f != nil {
		atMost("11_filter_fanout_ratio", f.Ratio, 2)
	}
	return v
}

// writeBenchTable prints the report for people: one row per figure, with its target and
// whether it is met.
func writeBenchTable(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SCENARIO\tFIGURE\tVALUE\tTARGET\tVERDICT\n")
	row := func(scenario, figure, value, key string) {
		target, verdictText := "", ""
		if v, ok := r.Verdicts[key]; ok {
			target, verdictText = v.Target, "met"
			if !v.Met {
				verdictText = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", scenario, figure, value, target, verdictText)
	}
	if x := r.Raw; x != nil {
		for _, c := range x.Runs {
			row("raw", fmt.Sprintf("plain net/http, %d at a time", c.Concurrency), perSecond(c.PerSecond, "requests"), "")
		}
	}
	if x := r.E2E; x != nil {
		row("e2e", fmt.Sprintf("single publish, %d publishers, 1 webhook", x.Publishers), perSecond(x.SinglePerSecond, "deliveries"), "")
		row("e2e", fmt.Sprintf("ratio to raw at %d", x.RawConcurrency), fmt.Sprintf("%.3f", x.RatioToRaw), "1_e2e_ratio_to_raw")
		row("e2e", "server CPU per delivery, full speed", cpuMS(x.SingleServerCPUMS), "8_server_cpu_ms_per_delivery_full_speed")
		row("e2e", fmt.Sprintf("batch publish (%d per call), accepted", x.BatchSize), perSecond(x.BatchPublishPerSecond, "events"), "3_batch_publish_events_per_s")
		row("e2e", "batch published, delivered", perSecond(x.BatchPerSecond, "deliveries"), "")
		row("e2e", fmt.Sprintf("batch delivered, ratio to raw at %d", x.RawConcurrency), fmt.Sprintf("%.3f", x.BatchRatioToRaw), "7_e2e_batch_ratio_to_raw")
		row("e2e", "server CPU per delivery, batch", cpuMS(x.BatchServerCPUMS), "")
		if m := x.Many; m != nil {
			row("e2e", fmt.Sprintf("single publish, %d webhooks, delivered", m.Webhooks), perSecond(m.SinglePerSecond, "deliveries"), "")
			row("e2e", fmt.Sprintf("  ratio to raw at %d", m.RawConcurrency), fmt.Sprintf("%.3f", m.SingleRatioToRaw), "7_e2e_many_single_ratio_to_raw")
			row("e2e", "  server CPU per delivery", cpuMS(m.SingleServerCPUMS), "")
			row("e2e", fmt.Sprintf("batch publish, %d webhooks, delivered", m.Webhooks), perSecond(m.BatchPerSecond, "deliveries"), "")
			row("e2e", fmt.Sprintf("  ratio to raw at %d", m.RawConcurrency), fmt.Sprintf("%.3f", m.BatchRatioToRaw), "7_e2e_many_batch_ratio_to_raw")
			row("e2e", "  server CPU per delivery", cpuMS(m.BatchServerCPUMS), "")
		}
	}
	for _, l := range r.Latency {
		key50, key99 := "", ""
		switch l.Rate {
		case 100:
			key50 = "2_p50_ms_at_100"
		case 1000:
			key99 = "2_p99_ms_at_1000"
		}
		name := fmt.Sprintf("%g events/s", l.Rate)
		row("latency", name+" p50", ms(l.P50MS), key50)
		row("latency", name+" p90", ms(l.P90MS), "")
		row("latency", name+" p99", ms(l.P99MS), key99)
		row("latency", name+" max", ms(l.MaxMS), "")
		keyCPU := ""
		if l.Rate == 100 {
			keyCPU = "8_server_cpu_ms_per_delivery_at_100"
		}
		row("latency", name+" server CPU per delivery", cpuMS(l.ServerCPUMS), keyCPU)
	}
	if x := r.FanOut; x != nil {
		row("fanout", fmt.Sprintf("1 event to %d webhooks, all received", x.Webhooks), ms(x.AllReceivedMS), "")
		row("fanout", "deliveries/s", perSecond(x.PerSecond, "deliveries"), "")
		row("fanout", "server CPU per delivery", cpuMS(x.ServerCPUMS), "")
	}
	if x := r.Filter; x != nil {
		row("filter", fmt.Sprintf("publish 1 event to %d webhooks, no filters", x.Webhooks), ms(x.UnfilteredMS), "")
		row("filter", fmt.Sprintf("publish 1 event to %d webhooks, a filter each", x.Webhooks), ms(x.FilteredMS), "")
		row("filter", "  the first, right after the filters were saved", ms(x.FirstFilteredMS), "")
		row("filter", "  filtered to unfiltered", fmt.Sprintf("%.2f", x.Ratio), "11_filter_fanout_ratio")
	}
	if x := r.Backlog; x != nil {
		row("backlog", fmt.Sprintf("%d deliveries (%d webhooks) published", x.Deliveries, x.Webhooks), perSecond(x.PublishEventsPerSecond, "events"), "")
		row("backlog", "drained", perSecond(x.DrainPerSecond, "deliveries"), "")
		row("backlog", "first tenth / last tenth", fmt.Sprintf("%s / %s", perSecond(x.FirstTenthPerSecond, ""), perSecond(x.LastTenthPerSecond, "")), "")
		row("backlog", "last tenth ÷ first tenth", fmt.Sprintf("%.2f", x.LastToFirstTenth), "4_backlog_last_to_first_tenth")
		row("backlog", "server CPU per delivery, drain", cpuMS(x.DrainServerCPUMS), "")
		if x.PeakRSSMB > 0 {
			row("backlog", "peak RSS of herald serve", fmt.Sprintf("%.0f MB", x.PeakRSSMB), "4_backlog_peak_rss_mb")
		}
	}
	if x := r.Isolation; x != nil {
		row("isolation", fmt.Sprintf("%d of %d endpoints hang; healthy p50", x.Hanging, x.Webhooks), ms(x.HealthyP50MS), "")
		row("isolation", "healthy p99", ms(x.HealthyP99MS), "5_isolation_healthy_p99_ms")
		row("isolation", "server CPU per event", cpuMS(x.ServerCPUMS), "")
	}
	if x := r.Hostile; x != nil {
		created := fmt.Sprintf("%d of %d", x.WebhooksCreated, x.WebhooksWanted)
		if x.RefusedStatus != 0 {
			created += fmt.Sprintf(", then %d", x.RefusedStatus)
		}
		row("hostile", "webhooks into a black hole, created", created, "")
		row("hostile", fmt.Sprintf("other tenant at %g events/s, p50", x.Rate), ms(x.HealthyP50MS), "")
		row("hostile", "other tenant p99", ms(x.HealthyP99MS), "10_hostile_healthy_p99_ms")
		row("hostile", "other tenant max", ms(x.HealthyMaxMS), "")
		row("hostile", "server CPU per healthy event", cpuMS(x.ServerCPUMS), "")
	}
	if x := r.Postgres; x != nil {
		row("postgres", fmt.Sprintf("1 process, %d webhooks", x.Webhooks), perSecond(x.OneProcess, "deliveries"), "9_postgres_1_process_deliveries_per_s")
		row("postgres", fmt.Sprintf("3 processes, %d webhooks", x.Webhooks), perSecond(x.ThreeProcesses, "deliveries"), "")
		row("postgres", "3 ÷ 1", fmt.Sprintf("%.2f", x.Ratio), "6_postgres_3_to_1_processes")
		row("postgres", "1 process, PostgreSQL CPU per delivery", cpuMS(x.OnePostgresCPUMS), "9_postgres_cpu_ms_per_delivery")
		row("postgres", "3 processes, PostgreSQL CPU per delivery", cpuMS(x.ThreePostgresCPUMS), "")
		row("postgres", "1 process, server CPU per delivery", cpuMS(x.OneServerCPUMS), "")
		if x.PerDatabaseCore > 0 {
			row("postgres", "projection: deliveries/s per database core (1000 ÷ CPU ms)", perSecond(x.PerDatabaseCore, "deliveries"), "")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Skipped)) {
		row(name, "skipped", r.Skipped[name], "")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Errors)) {
		row(name, "FAILED", r.Errors[name], "")
	}
	_ = tw.Flush() // stdout: nothing useful to do if it fails
	fmt.Fprintf(w, "%d CPUs, %s, %.0f s; %s\n", r.CPUs, r.Mode, r.Seconds,
		"figures move with the machine: compare ratios measured in one run")
}

func perSecond(v float64, unit string) string {
	if unit == "" {
		return fmt.Sprintf("%.0f/s", v)
	}
	return fmt.Sprintf("%.0f %s/s", v, unit)
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

// cpuMS prints a CPU figure per delivery, or says it was not measured (no /proc, or a
// server bench does not run).
func cpuMS(v float64) string {
	if v == 0 {
		return "not measured"
	}
	return fmt.Sprintf("%.3f ms", v)
}

// round rounds v to digits decimals, to keep the JSON line readable.
func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// CPUProfileEnv names the variable that makes herald serve write a CPU profile of its
// whole run to the file it names; bench sets it for --cpuprofile-dir. It is deliberately
// not a documented flag: it is a tool for performance work, not for operating Herald.
const CPUProfileEnv = "HERALD_CPU_PROFILE"

// isPostgres reports whether url names a PostgreSQL server.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}
