-- Incarnations: an ended instance's id may be started again, and each start is a new incarnation with
-- a token of its own (16 hex digits, set when the row is created; NULL for rows created before this
-- migration). A message meant for one incarnation (a child's result for its parent) is queued only if
-- the row still has that run, and activity idempotency keys include it, so nothing of an earlier
-- incarnation reaches or is mistaken for a later one.
ALTER TABLE instances ADD COLUMN run TEXT;
