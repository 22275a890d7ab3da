-- Keel's store: modules, instances, their histories, inboxes and activity work items.

CREATE TABLE modules (
    digest      TEXT PRIMARY KEY,
    bytes       BLOB NOT NULL,
    version     TEXT NOT NULL,
    deployed_at INTEGER NOT NULL,
    functions   TEXT NOT NULL          -- JSON list of {name, kind}
);

-- Which module provides a function; one active row per (name, kind).
CREATE TABLE functions (
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- 'orchestrator' | 'activity'
    digest      TEXT NOT NULL REFERENCES modules(digest),
    version     TEXT NOT NULL,
    deployed_at INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    PRIMARY KEY (name, kind, digest)
);

CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    execution     INTEGER NOT NULL,     -- current execution, from 1; continue-as-new adds one
    status        TEXT NOT NULL,
    module        TEXT NOT NULL,        -- digest the current execution is pinned to
    input         TEXT NOT NULL,
    output        TEXT,
    failure       TEXT,
    custom_status TEXT,
    parent        TEXT,                 -- JSON ParentRef
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    history_len   INTEGER NOT NULL DEFAULT 0,  -- events in the current execution's history
    locked_by     TEXT,
    locked_until  INTEGER
);
CREATE INDEX instances_status ON instances(status, created_at);

CREATE TABLE history (
    instance    TEXT NOT NULL,
    execution   INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT NOT NULL,          -- JSON HistoryEvent
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (instance, execution, seq)
) WITHOUT ROWID;

-- Messages waiting for an instance's next turn; timers are messages visible from their firing time.
CREATE TABLE inbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    instance   TEXT NOT NULL,
    execution  INTEGER,                 -- NULL: for whichever execution is current
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,           -- JSON Message
    visible_at INTEGER NOT NULL
);
CREATE INDEX inbox_visible ON inbox(visible_at);
CREATE INDEX inbox_instance ON inbox(instance);

CREATE TABLE work_items (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance     TEXT NOT NULL,
    execution    INTEGER NOT NULL,
    task_id      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    input        TEXT NOT NULL,
    options      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,      -- the attempt the next claim runs, from 1
    first_at     INTEGER NOT NULL,      -- when the first attempt became due
    visible_at   INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER
);
CREATE INDEX work_items_visible ON work_items(visible_at);
CREATE INDEX work_items_instance ON work_items(instance);
