-- A delivery keeps its first 3 and last 20 attempts (herald.KeepFirstAttempts and
-- herald.KeepLastAttempts); recording an attempt deletes the one it pushes out. This
-- brings the attempts recorded before that rule under it, so that every delivery's
-- dropped attempts are herald.AttemptsDropped(attempt_count) from now on.

-- +goose Up
DELETE FROM attempts
WHERE number > 3
    AND number <= (SELECT d.attempt_count FROM deliveries d WHERE d.id = attempts.delivery_id) - 20;

-- +goose Down
-- The attempts deleted are gone; the rule needs no schema to undo.
SELECT 1;
