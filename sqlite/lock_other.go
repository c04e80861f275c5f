//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

// tryLock has no flock to use on this system: it refuses, since a Store without its
// directory to itself could send a delivery twice.
func tryLock(*os.File) error {
	return errors.New("locking a data directory needs flock, which this system lacks")
}
