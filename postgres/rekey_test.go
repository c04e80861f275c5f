package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/storetest"
)

func TestResealContract(t *testing.T) {
	baseURL(t) // skip before the suite starts its subtests
	storetest.RunReseal(t, func(t *testing.T) storetest.Database {
		u := freshSchema(t)
		return func(t *testing.T, c herald.Cipher) herald.Store {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := postgres.Open(ctx, u.String(), c)
			if err != nil {
				t.Fatalf("open %s: %v", u.Redacted(), err)
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
