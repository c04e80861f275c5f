package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/heraldhq/herald"
)

// LockFileName is the file in a data directory that its owner holds locked.
const LockFileName = "herald.lock"

// DirLock is one process's exclusive hold on a SQLite data directory: the directory of
// a database file. A Store assumes that the process using it holds the lock on its
// file's directory (see the package comment), so that no other process writes to the
// file beside it. The operating system drops the lock when the process ends, however it
// ends, so a crash never leaves a directory locked.
type DirLock struct {
	f    *os.File
	path string
}

// LockDir takes the data directory of the SQLite database file at dbPath for this
// process, creating the directory if needed, and writes the process id into the lock
// file for whoever finds it taken. It never waits: if another process (or another
// LockDir of this one) holds the directory, it fails at once with an ECONFLICT error
// naming the directory and, when it can read it, the holder's process id.
func LockDir(dbPath string) (*DirLock, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if err := tryLock(f); err != nil {
		_ = f.Close() // the lock error is the one worth returning
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
		}
		holder := "another process"
		if pid := holderPID(path); pid > 0 {
			holder = "process " + strconv.Itoa(pid)
		}
		return nil, herald.Errorf(herald.ECONFLICT,
			"data directory %s is in use by %s (it holds %s): stop that herald serve first, or use another --data-dir",
			dir, holder, path)
	}
	// Only the holder writes the file, so a reader finds either this id or nothing.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		_ = f.Close() // closing drops the lock; the write error is the one worth returning
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return &DirLock{f: f, path: path}, nil
}

// Dir is the locked directory.
func (l *DirLock) Dir() string { return filepath.Dir(l.path) }

// Unlock lets another process take the directory. The lock file stays: removing it
// could let two processes lock two different files of the same name.
func (l *DirLock) Unlock() error {
	if err := l.f.Truncate(0); err != nil {
		_ = l.f.Close() // drops the lock all the same
		return fmt.Errorf("unlock data directory: %w", err)
	}
	return l.f.Close()
}

// holderPID reads the process id the lock's holder wrote, 0 if there is none yet.
func holderPID(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	if err != nil {
		return 0
	}
	return pid
}

// errLocked is tryLock's answer when another open file holds the lock.
var errLocked = errors.New("locked by another process")
