package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// processCPU is the CPU time (user and system) process pid has used so far, from
// /proc/<pid>/stat, and the process's start time in clock ticks since boot, which tells
// a pid apart from a later process given the same pid.
func processCPU(pid int) (cpu time.Duration, started uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStat(data)
}

// parseStat reads utime, stime and starttime (fields 14, 15 and 22 of proc(5)) from the
// contents of a /proc/<pid>/stat file. The command name, field 2, is in parentheses and
// may hold spaces, so the fields are counted from the last ')'.
func parseStat(data []byte) (cpu time.Duration, started uint64, err error) {
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 20", len(f))
	}
	var ticks [3]uint64
	for k, field := range []int{14, 15, 22} {
		ticks[k], err = strconv.ParseUint(f[field-3], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("proc stat field %d: %w", field, err)
		}
	}
	return ticksToDuration(ticks[0] + ticks[1]), ticks[2], nil
}

func ticksToDuration(ticks uint64) time.Duration {
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks())
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times: the AT_CLKTCK entry
// of this process's auxiliary vector, or 100, its value on every common Linux platform,
// when that cannot be read.
var clockTicks = sync.OnceValue(func() uint64 {
	const atClkTck = 17
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	for i := 0; i+16 <= len(data); i += 16 { // 64-bit key and value pairs
		key, value := binary.NativeEndian.Uint64(data[i:]), binary.NativeEndian.Uint64(data[i+8:])
		if key == atClkTck && value > 0 {
			return value
		}
	}
	return 100
})

// cpuMeter measures the CPU a set of processes used over a window: take one sample at
// its start and one at its end, and the difference is the window's CPU.
type cpuMeter interface {
	sample() (cpuSample, error)
}

// cpuSample is the CPU used so far by each process of a set, by pid and start time.
type cpuSample map[procKey]time.Duration

type procKey struct {
	pid     int
	started uint64
}

// since is the CPU the processes of s used after before: a process present in both
// counts its difference, one new in s counts whole (it started in the window). A process
// of before that has ended is not counted: its CPU after before's sample is lost.
func (s cpuSample) since(before cpuSample) time.Duration {
	var d time.Duration
	for k, cpu := range s {
		d += cpu - before[k]
	}
	return d
}

// pidsMeter measures fixed processes: the herald serve processes a scenario started.
type pidsMeter []int

func (m pidsMeter) sample() (cpuSample, error) {
	s := cpuSample{}
	for _, pid := range m {
		cpu, started, err := processCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("server CPU: %w", err)
		}
		s[procKey{pid, started}] = cpu
	}
	return s, nil
}

// postgresMeter measures the local PostgreSQL server: every process named postgres,
// except client backends and autovacuum workers of databases other than database, so
// that other users of a shared server weigh as little as they can on the figure. (The
// postmaster and the shared background processes, such as the WAL writer and the
// checkpointer, work for everyone and are counted whole.)
type postgresMeter struct {
	database string
}

// postgresTitle finds the database in the process title of a client backend,
// "postgres: [cluster: ]user database host(port) state", or of an autovacuum worker.
var postgresTitle = regexp.MustCompile(`^postgres: (?:\S+: )?(?:autovacuum worker (\S+)|\S+ (\S+) (?:\S+\(\d+\)|\[local\]))`)

func (m postgresMeter) sample() (cpuSample, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	s := cpuSample{}
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue // not a process directory
		}
		if !m.counts(dir) {
			continue
		}
		cpu, started, err := processCPU(pid)
		if err != nil {
			continue // it ended between the listing and the read
		}
		s[procKey{pid, started}] = cpu
	}
	if len(s) == 0 {
		return nil, errors.New("postgres CPU: no postgres process on this machine (is the server remote?)")
	}
	return s, nil
}

// counts reports whether the process in dir is one of this server's that the figure
// includes.
func (m postgresMeter) counts(dir string) bool {
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return false // it ended, or is not ours to read
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return false
	}
	return m.countsTitle(strings.TrimSpace(string(comm)), strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
}

// countsTitle is counts on a process's name (comm) and its command line, arguments
// joined by spaces, which PostgreSQL rewrites into its process title.
func (m postgresMeter) countsTitle(comm, title string) bool {
	program, _, _ := strings.Cut(title, " ")
	if comm != "postgres" && filepath.Base(program) != "postgres" && !strings.HasPrefix(title, "postgres:") {
		return false
	}
	if g := postgresTitle.FindStringSubmatch(title); g != nil {
		return g[1]+g[2] == m.database
	}
	return true
}

// cpuWindow is a measurement in progress: the sample its start took.
type cpuWindow struct {
	meter  cpuMeter // nil: nothing to measure
	before cpuSample
	err    error
}

// startCPU starts measuring the processes of m (nothing when m is nil).
func startCPU(m cpuMeter) *cpuWindow {
	w := &cpuWindow{meter: m}
	if m != nil {
		w.before, w.err = m.sample()
	}
	return w
}

// stop ends the window and returns the CPU its processes used in it; ok is false when
// there was nothing to measure or /proc could not be read (err says why).
func (w *cpuWindow) stop() (cpu time.Duration, ok bool, err error) {
	if w.meter == nil {
		return 0, false, nil
	}
	if w.err != nil {
		return 0, false, w.err
	}
	after, err := w.meter.sample()
	if err != nil {
		return 0, false, err
	}
	return after.since(w.before), true, nil
}

// perDelivery is cpu divided by deliveries, in milliseconds; 0 when there were none.
func perDelivery(cpu time.Duration, deliveries int) float64 {
	if deliveries <= 0 {
		return 0
	}
	return round(float64(cpu.Microseconds())/1000/float64(deliveries), 4)
}
