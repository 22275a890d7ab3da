-- What guests wrote while an instance ran (SQLite's 0007_logs.sql).
CREATE TABLE logs (
    id        BIGSERIAL PRIMARY KEY,
    instance  TEXT NOT NULL,
    execution BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL,
    source    TEXT NOT NULL,
    task      BIGINT,
    attempt   BIGINT,
    stream    TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX logs_by_instance ON logs (instance, id);
CREATE INDEX logs_by_time ON logs (at_ms);
