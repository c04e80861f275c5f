package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOwnerLockRefusesASecondServer starts `herald serve` on a SQLite data directory
// and then, as separate processes, a second serve and the commands that must not write
// beside it: each exits non-zero at once, naming the directory and the server's PID. A
// backup, made to run beside a server, still works, and once the server is SIGKILLed a
// new one starts there, since the lock died with it.
func TestOwnerLockRefusesASecondServer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and starts real servers")
	}
	bin := buildHerald(t)
	dataDir := t.TempDir()
	owner := startProcess(t, bin, dataDir)
	pid := strconv.Itoa(owner.cmd.Process.Pid)

	refusals := []struct {
		name string
		args []string
	}{
		{"serve", []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-key", testAdminKey}},
		{"rotate-encryption-key", []string{"rotate-encryption-key", "--data-dir", dataDir}},
		{"migrate-store", []string{"migrate-store", "--from", filepath.Join(dataDir, "herald.db"),
			"--to", "postgres://nobody@127.0.0.1:1/none"}},
	}
	for _, tc := range refusals {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, tc.args...).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		took := time.Since(start)
		var exit *exec.ExitError
		if timedOut || err == nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%s beside a running server: err %v after %s, want a non-zero exit at once\n%s", tc.name, err, took, out)
			continue
		}
		if !strings.Contains(string(out), dataDir) || !strings.Contains(string(out), "process "+pid) {
			t.Errorf("%s beside a running server said %q, want the directory %s and the holder's PID %s", tc.name, out, dataDir, pid)
		}
		if took > 5*time.Second {
			t.Errorf("%s took %s to refuse, want at once", tc.name, took)
		}
	}
	// The server is unharmed by the refusals.
	if code := api(t, owner.URL, "GET", "/readyz", "", nil, nil); code != 200 {
		t.Errorf("the owner's /readyz answers %d after the refusals, want 200", code)
	}

	out, err := exec.Command(bin, "backup", "--data-dir", dataDir, "--output", filepath.Join(t.TempDir(), "copy.db")).CombinedOutput()
	if err != nil {
		t.Errorf("backup beside the server: %v\n%s", err, out)
	}

	if err := owner.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	owner.cmd.Wait() // killed: its exit status says only that
	next := startProcess(t, bin, dataDir)
	if code := api(t, next.URL, "GET", "/readyz", "", nil, nil); code != 200 {
		t.Errorf("a server started after the owner was killed answers /readyz %d, want 200", code)
	}
}
