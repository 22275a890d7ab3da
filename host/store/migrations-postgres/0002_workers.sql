-- Worker processes as they last reported themselves (SQLite's 0006_workers.sql).
CREATE TABLE workers (
    owner      TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    version    TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    seen_ms    BIGINT NOT NULL
);
