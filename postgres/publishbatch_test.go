package postgres_test

import (
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/storetest"
)

func TestPublishBatchContract(t *testing.T) {
	baseURL(t) // skip without a server
	storetest.RunPublishBatch(t, func(t *testing.T) herald.Store {
		return open(t, freshSchema(t))
	})
}
