package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald"
)

// ResealSecrets re-seals every webhook secret (current and previous) that the store's
// cipher does not call current, and returns how many values it re-sealed; see
// herald.Store. Rows are read a batch at a time without a lock, opened and sealed
// outside any transaction, and written back in one short write per batch, each row only
// if its sealed values are still the ones read: a secret rotated meanwhile is read again
// and re-sealed from what it is now, never overwritten with what it was.
func (s *Store) ResealSecrets(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = herald.ResealBatch
	}
	total, after := 0, ""
	for {
		rows, err := s.sealedAfter(ctx, after, batch)
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
			if rows, err = s.sealedIn(ctx, lost); err != nil {
				return total, err
			}
		}
	}
}

// sealedAfter reads the sealed secrets of up to limit webhooks whose ids follow after.
func (s *Store) sealedAfter(ctx context.Context, after string, limit int) ([]herald.SealedSecrets, error) {
	return s.sealedRows(ctx, "SELECT id, secret, previous_secret, auth, url_password FROM webhooks WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// sealedIn reads the sealed secrets of the webhooks ids that still exist.
func (s *Store) sealedIn(ctx context.Context, ids []string) ([]herald.SealedSecrets, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := jsonText(ids)
	if err != nil {
		return nil, fmt.Errorf("re-seal secrets: %w", err)
	}
	return s.sealedRows(ctx, "SELECT id, secret, previous_secret, auth, url_password FROM webhooks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", list)
}

func (s *Store) sealedRows(ctx context.Context, q string, args ...any) ([]herald.SealedSecrets, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("re-seal secrets: read: %w", unavailable(err))
	}
	defer rows.Close()
	var out []herald.SealedSecrets
	for rows.Next() {
		var r herald.SealedSecrets
		if err := rows.Scan(&r.ID, &r.Secret, &r.Previous, &r.Auth, &r.URLPassword); err != nil {
			return nil, fmt.Errorf("re-seal secrets: read: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("re-seal secrets: read: %w", unavailable(err))
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
	err = s.inTx(ctx, "re-seal secrets", func(ctx context.Context, tx *sql.Tx) error {
		n, lost = 0, lost[:0]
		for _, r := range rows {
			// updated_at stays: re-sealing changes no field a caller sees, and an edit
			// made from a read before it must not be refused as a conflict.
			res, err := tx.ExecContext(ctx, `UPDATE webhooks SET secret = ?, previous_secret = ?, auth = ?,
				url_password = ?
				WHERE id = ? AND secret = ? AND previous_secret IS ? AND auth IS ? AND url_password IS ?`,
				r.Secret, nullBlob(r.Previous), nullBlob(r.Auth), nullBlob(r.URLPassword), r.ID, r.Was.Secret,
				nullBlob(r.Was.Previous), nullBlob(r.Was.Auth), nullBlob(r.Was.URLPassword))
			if err != nil {
				return err
			}
			changed, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if changed == 0 {
				lost = append(lost, r.ID)
				continue
			}
			n += r.Values
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return n, lost, nil
}

// nullBlob binds a nil slice as NULL, which a previous secret that is not set is.
func nullBlob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
