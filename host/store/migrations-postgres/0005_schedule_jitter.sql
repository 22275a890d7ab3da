-- Schedule jitter, as SQLite's migration 0009 adds it: each firing waits a delay of its own, from 0
-- to `jitter_ms`, derived from the schedule and the fire time. 0 fires on time.
ALTER TABLE schedules ADD COLUMN jitter_ms BIGINT NOT NULL DEFAULT 0;
