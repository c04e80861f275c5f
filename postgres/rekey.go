package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
)

// ResealSecrets re-seals every webhook secret (current and previous) that the store's
// cipher does not call current, and returns how many values it re-sealed; see
// herald.Store. Rows are read a batch at a time without a lock, opened and sealed
// outside any transaction, and written back in one short transaction per batch, each
// row only if its sealed values are still the ones read: a secret rotated meanwhile, by
// this process or another, is read again and re-sealed from what it is now, never
// overwritten with what it was.
func (s *Store) ResealSecrets(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = herald.ResealBatch
	}
	total, after := 0, ""
	for {
		rows, err := s.sealedRows(ctx, "SELECT id, secret, previous_secret, auth, url_password FROM webhooks WHERE id > $1 ORDER BY id LIMIT $2", after, batch)
		if err != nil {
			return total, err
		}
		if len(rows) == 0 {
			return total, nil
		}
		after = rows[len(rows)-1].ID
		for try := 0; len(rows) > 0; try++ {
			if try == herald.ResealTries {
				return total, herald.Errorf(herald.ECONFLICT, "re-seal secrets: webhook %s changed %d times while being re-sealed; run again", rows[0].ID, try)
			}
			fresh, err := herald.ResealRows(s.cipher, rows)
			if err != nil {
				return total, fmt.Errorf("re-seal secrets: %w", err)
			}
			n, lost, err := s.writeResealed(ctx, fresh)
			total += n
			if err != nil {
				return total, err
			}
			rows = nil
			if len(lost) > 0 {
				if rows, err = s.sealedRows(ctx, "SELECT id, secret, previous_secret, auth, url_password FROM webhooks WHERE id = ANY($1) ORDER BY id", lost); err != nil {
					return total, err
				}
			}
		}
	}
}

func (s *Store) sealedRows(ctx context.Context, q string, args ...any) ([]herald.SealedSecrets, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("re-seal secrets: read: %w", dbError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (herald.SealedSecrets, error) {
		var r herald.SealedSecrets
		err := row.Scan(&r.ID, &r.Secret, &r.Previous, &r.Auth, &r.URLPassword)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("re-seal secrets: read: %w", dbError(err))
	}
	return out, nil
}

// writeResealed writes re-sealed values in one transaction, each row only if its sealed
// values are unchanged since they were read (compare and swap). It returns how many
// values it wrote and the ids of the rows that had changed.
func (s *Store) writeResealed(ctx context.Context, rows []herald.Resealed) (n int, lost []string, err error) {
	if len(rows) == 0 {
		return 0, nil, nil
	}
	err = s.inTx(ctx, "re-seal secrets", func(ctx context.Context, tx pgx.Tx) error {
		n, lost = 0, nil // inTx may run this again after a lost connection
		b := &pgx.Batch{}
		for _, r := range rows {
			// updated_at stays: re-sealing changes no field a caller sees, and an edit
			// made from a read before it must not be refused as a conflict.
			b.Queue(`UPDATE webhooks SET secret = $1, previous_secret = $2, auth = $6, url_password = $8
				WHERE id = $3 AND secret = $4 AND previous_secret IS NOT DISTINCT FROM $5
					AND auth IS NOT DISTINCT FROM $7 AND url_password IS NOT DISTINCT FROM $9`,
				r.Secret, r.Previous, r.ID, r.Was.Secret, r.Was.Previous, r.Auth, r.Was.Auth,
				r.URLPassword, r.Was.URLPassword)
		}
		results := tx.SendBatch(ctx, b)
		for _, r := range rows {
			tag, err := results.Exec()
			if err != nil {
				_ = results.Close() // the Exec error is the one to report
				return err
			}
			if tag.RowsAffected() == 0 {
				lost = append(lost, r.ID)
				continue
			}
			n += r.Values
		}
		return results.Close()
	})
	if err != nil {
		return 0, nil, err
	}
	return n, lost, nil
}
