-- Schedules (SQLite's 0008_schedules.sql).
CREATE TABLE schedules (
    name          TEXT PRIMARY KEY,
    orchestrator  TEXT NOT NULL,
    input         TEXT NOT NULL,
    spec          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    overlap       TEXT NOT NULL,
    catch_up      TEXT NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    next_fire_ms  BIGINT NOT NULL,
    last_fire_ms  BIGINT,
    last_instance TEXT,
    fired         BIGINT NOT NULL DEFAULT 0,
    skipped       BIGINT NOT NULL DEFAULT 0,
    created_ms    BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE NOT paused;
