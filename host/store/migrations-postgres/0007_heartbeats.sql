-- Activity heartbeats: the latest progress details an attempt reported (kept for the next attempt
-- of the task, and shown in the instance's status) and when; and, set by a claim, when the lease of
-- the previous run of the attempt ran out without a result (its worker stopped), which fails an
-- attempt that has a heartbeat timeout.
ALTER TABLE work_items ADD COLUMN heartbeat TEXT;
ALTER TABLE work_items ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE work_items ADD COLUMN abandoned_at BIGINT;
