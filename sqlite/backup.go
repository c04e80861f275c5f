package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Backup writes a consistent copy of the database at dbPath to a new file at output
// while other connections, in this process or others (a running herald serve), go on
// reading and writing it. The copy is one snapshot: VACUUM INTO reads it in a single
// read transaction, which in WAL mode neither waits for writers nor blocks them.
//
// Backup never overwrites: it refuses an output that exists, even one created while it
// runs. The copy is written beside output under a temporary name, flushed to disk and
// checked with PRAGMA integrity_check, and only then linked into place, so output is
// either absent or a complete, checked copy. On error nothing is left behind.
//
// The copy holds webhook secrets sealed as they are in the database: it is only of
// use with the encryption key they were sealed with.
func Backup(ctx context.Context, dbPath, output string) (err error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("backup: no database to copy: %w", err)
	}
	outAbs, err := filepath.Abs(output)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(outAbs); err == nil {
		return fmt.Errorf("backup: %s already exists; backup never overwrites a file", output)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}

	// VACUUM INTO takes an empty file as its target, so creating the temporary file
	// here, exclusively and readable by its owner only, sets the copy's mode: it holds
	// API key hashes and sealed secrets.
	tmp, err := createTemp(outAbs)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		// Checking the copy may have opened a journal beside it.
		for _, name := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
			if rmErr := os.Remove(name); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
				err = fmt.Errorf("backup: remove the temporary copy: %w", rmErr)
			}
		}
	}()

	if err := vacuumInto(ctx, abs, tmp); err != nil {
		return fmt.Errorf("backup %s: %w", dbPath, unavailable(err))
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: flush the copy: %w", err)
	}
	if err := checkIntegrity(ctx, tmp); err != nil {
		return fmt.Errorf("backup: the copy failed its integrity check: %w", err)
	}
	// A link, unlike a rename, fails if output has appeared meanwhile.
	if err := os.Link(tmp, outAbs); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s already exists; backup never overwrites a file", output)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if runtime.GOOS != "windows" { // directories cannot be opened for sync there; NTFS journals the entry
		if err := syncFile(filepath.Dir(outAbs)); err != nil {
			return fmt.Errorf("backup: flush the directory of %s: %w", output, err)
		}
	}
	return nil
}

// createTemp creates an empty file with mode 0600 beside path, for the copy to be
// written into before it is linked to path.
func createTemp(path string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := path + ".tmp-" + hex.EncodeToString(b[:])
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	return name, f.Close()
}

// vacuumInto copies the database at src into the empty file dst.
func vacuumInto(ctx context.Context, src, dst string) error {
	// Read-only: a backup must not create a database that is not there, migrate one
	// or change the file it copies in any way.
	db, err := sql.Open("sqlite", dsn(src, []string{
		"busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")",
	}, "mode=ro"))
	if err != nil {
		return err
	}
	defer db.Close() //nolint:errcheck // a read-only connection has nothing to flush
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}

// checkIntegrity runs PRAGMA integrity_check on the database file at path and returns
// an error holding what it found unless it answers "ok".
func checkIntegrity(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", dsn(path, nil, "mode=ro"))
	if err != nil {
		return err
	}
	defer db.Close() //nolint:errcheck // a read-only connection has nothing to flush
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close() //nolint:errcheck // rows.Err below reports what matters
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) != 1 || found[0] != "ok" {
		return errors.New(strings.Join(found, "; "))
	}
	return nil
}

// syncFile flushes the file or directory at path to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // the sync error is the one worth returning
		return err
	}
	return f.Close()
}
