-- Schedules: each one starts an instance of `orchestrator` with `input` at the times `spec` names
-- (`cron:EXPR` in `timezone`, or `every:MS`). `next_fire_ms` is the firing due next; a worker that
-- fires it starts the instance under an id derived from the schedule and the fire time, then moves
-- `next_fire_ms` on only if it still holds the value it fired, so two workers never fire one time
-- twice and a crash between the two steps fires nothing twice either.
CREATE TABLE schedules (
    name          TEXT PRIMARY KEY NOT NULL,
    orchestrator  TEXT NOT NULL,
    input         TEXT NOT NULL,
    spec          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    overlap       TEXT NOT NULL,
    catch_up      TEXT NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0,
    next_fire_ms  INTEGER NOT NULL,
    last_fire_ms  INTEGER,
    last_instance TEXT,
    fired         INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE paused = 0;
