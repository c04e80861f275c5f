package postgres

// For the tests of package postgres_test.
var (
	DueInOrder     = dueInOrder
	ClaimSettings  = claimSettings
	RecordSettings = recordSettings
	LockDeliveries = lockDeliveries
)
