-- Schedule jitter: each firing waits a delay of its own, from 0 to `jitter_ms`, derived from the
-- schedule and the fire time (the same on every worker), so that many schedules due at one time do
-- not all start at once. 0 fires on time.
ALTER TABLE schedules ADD COLUMN jitter_ms INTEGER NOT NULL DEFAULT 0;
