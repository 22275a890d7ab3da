-- Poison work is parked, not spun: a turn that keeps failing for host reasons (an undecodable row, a
-- module that will not load, a commit that always fails) is retried with exponential backoff and,
-- after a number of tries, the instance is parked (status 'Parked') with the reason until an operator
-- resumes it.
ALTER TABLE instances ADD COLUMN turn_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN not_before INTEGER;   -- no turn before this time (backoff)
ALTER TABLE instances ADD COLUMN parked TEXT;          -- why the instance was parked
