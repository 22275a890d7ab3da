-- Poison work is parked, not spun: a turn that keeps failing for host reasons (an undecodable row, a
-- module that will not load, a commit that always fails) is retried with exponential backoff and,
-- after a number of tries, the instance is parked (status 'Parked') with the reason until an operator
-- resumes it.
ALTER TABLE instances ADD COLUMN turn_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN not_before INTEGER;   -- no turn before this time (backoff)
ALTER TABLE instances ADD COLUMN parked TEXT;          -- why the instance was parked

-- Claims of a work item since its last attempt produced a result: an attempt that could not run for a
-- host reason (the module would not load, a read failed), or whose worker died, is delivered again
-- without consuming the activity's retry attempts, and after too many deliveries the task fails with
-- HostError instead of crashing workers forever.
ALTER TABLE work_items ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
