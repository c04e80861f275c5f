package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/storetest"
)

func TestResealContract(t *testing.T) {
	storetest.RunReseal(t, func(t *testing.T) storetest.Database {
		path := filepath.Join(t.TempDir(), "herald.db")
		return func(t *testing.T, c herald.Cipher) herald.Store {
			t.Helper()
			s, err := sqlite.Open(t.Context(), path, c)
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			return s
		}
	})
}
