package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestParseStat reads the CPU and start time out of /proc/<pid>/stat lines, including
// a command name with spaces and parentheses.
func TestParseStat(t *testing.T) {
	t.Parallel()
	tick := time.Second / time.Duration(clockTicks())
	for _, tc := range []struct {
		name    string
		line    string
		cpu     time.Duration
		started uint64
		bad     bool
	}{
		{name: "postgres backend",
			line: "2238 (postgres) S 1 2238 2238 0 -1 4194560 1845 0 0 0 30 12 0 0 20 0 1 0 1234 225792000 7000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			cpu:  42 * tick, started: 1234},
		{name: "name with spaces and a parenthesis",
			line: "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 5 6 7 8 20 0 1 0 99 0 0",
			cpu:  11 * tick, started: 99},
		{name: "no name", line: "77 R 1", bad: true},
		{name: "cut short", line: "77 (x) R 1 2 3", bad: true},
		{name: "not a number", line: "77 (x) R 1 77 77 0 -1 0 0 0 0 0 x 6 7 8 20 0 1 0 99 0 0", bad: true},
	} {
		cpu, started, err := parseStat([]byte(tc.line))
		if tc.bad {
			if err == nil {
				t.Errorf("%s: parsed %v, %d; want an error", tc.name, cpu, started)
			}
			continue
		}
		if err != nil || cpu != tc.cpu || started != tc.started {
			t.Errorf("%s: %v, %d, %v; want %v, %d", tc.name, cpu, started, err, tc.cpu, tc.started)
		}
	}
}

// TestProcessCPU spins this process until /proc shows it used 100 ms of CPU more: the
// reading must grow with the work, and by no more than the machine could give it.
func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, started, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	var after time.Duration
	var started2 uint64
	for after-before < 100*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("CPU grew by %v in 30 s of spinning, want 100 ms", after-before)
		}
		for end := time.Now().Add(10 * time.Millisecond); time.Now().Before(end); {
		}
		if after, started2, err = processCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.Second / time.Duration(clockTicks())
	if grew, most := after-before, time.Since(start)*time.Duration(runtime.NumCPU())+tick; grew > most {
		t.Errorf("CPU grew by %v in %v of wall time on %d CPUs", grew, time.Since(start), runtime.NumCPU())
	}
	if started != started2 || started == 0 {
		t.Errorf("start time %d then %d, want the same, not 0", started, started2)
	}
}

// TestCPUSampleSince counts a surviving process's difference and a new process whole.
func TestCPUSampleSince(t *testing.T) {
	t.Parallel()
	before := cpuSample{{1, 10}: time.Second, {2, 10}: 3 * time.Second, {3, 10}: time.Second}
	after := cpuSample{
		{1, 10}: 1500 * time.Millisecond, // went on: 0.5 s
		{2, 10}: 3 * time.Second,         // idle
		{3, 50}: 200 * time.Millisecond,  // pid 3 reused by a new process: 0.2 s
		{4, 60}: 100 * time.Millisecond,  // new: 0.1 s
	}
	if got, want := after.since(before), 800*time.Millisecond; got != want {
		t.Errorf("since = %v, want %v", got, want)
	}
}

// TestPostgresMeterCounts keeps the server's own processes and this database's
// backends, and leaves out other databases' backends and other programs.
func TestPostgresMeterCounts(t *testing.T) {
	t.Parallel()
	m := postgresMeter{database: "herald_bench_1"}
	for _, tc := range []struct {
		comm, title string
		want        bool
	}{
		{"postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", true},
		{"postgres", "postgres: 15/main: checkpointer", true},
		{"postgres", "postgres: 15/main: walwriter", true},
		{"postgres", "postgres: 15/main: postgres herald_bench_1 127.0.0.1(40312) idle", true},
		{"postgres", "postgres: 15/main: postgres herald_bench_1 [local] idle", true},
		{"postgres", "postgres: postgres herald_bench_1 127.0.0.1(40312) UPDATE", true},
		{"postgres", "postgres: 15/main: postgres test 127.0.0.1(40314) idle", false},
		{"postgres", "postgres: 15/main: autovacuum worker herald_bench_1", true},
		{"postgres", "postgres: 15/main: autovacuum worker test", false},
		{"herald", "/usr/bin/herald serve --database-url postgres://x", false},
		{"bash", "bash -c postgres", false},
	} {
		if got := m.countsTitle(tc.comm, tc.title); got != tc.want {
			t.Errorf("%s %q: counts %v, want %v", tc.comm, tc.title, got, tc.want)
		}
	}
}

// TestPerDelivery is the CPU divided by the deliveries, in milliseconds.
func TestPerDelivery(t *testing.T) {
	t.Parallel()
	if got := perDelivery(300*time.Millisecond, 1000); got != 0.3 {
		t.Errorf("300 ms over 1000 deliveries = %v ms each, want 0.3", got)
	}
	if got := perDelivery(time.Second, 0); got != 0 {
		t.Errorf("over no deliveries = %v, want 0", got)
	}
}
