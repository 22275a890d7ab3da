-- What guests wrote (stdout, stderr and the `log` call) while an instance ran: an orchestrator's
-- lines from its live turns (never from a replay), an activity's from each attempt. Lines are
-- committed with the turn or the attempt's result that produced them, so they cost no commit of
-- their own. They go with the instance (purge, reuse of an ended id) and after the retention time.
CREATE TABLE logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    instance  TEXT NOT NULL,
    execution INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    source    TEXT NOT NULL,
    task      INTEGER,
    attempt   INTEGER,
    stream    TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX logs_by_instance ON logs (instance, id);
CREATE INDEX logs_by_time ON logs (at_ms);
