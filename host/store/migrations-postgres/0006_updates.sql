-- Clients' updates (SQLite's 0010_updates.sql).
CREATE TABLE updates (
    instance     TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    input        TEXT NOT NULL,
    state        TEXT NOT NULL,
    outcome      TEXT,
    requested_ms BIGINT NOT NULL,
    finished_ms  BIGINT,
    PRIMARY KEY (instance, id)
);
