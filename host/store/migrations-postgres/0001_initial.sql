-- Keel's store on PostgreSQL: the schema that SQLite's migrations 0001-0005 build, in one step.
-- Times are milliseconds since the epoch (BIGINT); JSON values are stored as text, exactly as on
-- SQLite, so that both backends hand the engine the same bytes.

CREATE TABLE modules (
    digest      TEXT PRIMARY KEY,
    bytes       BYTEA NOT NULL,
    version     TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    functions   TEXT NOT NULL          -- JSON list of {name, kind}
);

-- Which module provides a function; one active row per (name, kind).
CREATE TABLE functions (
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- 'orchestrator' | 'activity'
    digest      TEXT NOT NULL REFERENCES modules(digest),
    version     TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    active      BIGINT NOT NULL,
    PRIMARY KEY (name, kind, digest)
);

-- Every version label of a module, in the order they were added (`seq`; SQLite orders by rowid).
CREATE TABLE labels (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY,
    digest   TEXT NOT NULL REFERENCES modules(digest),
    label    TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (digest, label)
);

CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    execution     BIGINT NOT NULL,      -- current execution, from 1; continue-as-new adds one
    status        TEXT NOT NULL,
    module        TEXT NOT NULL,        -- digest the current execution is pinned to
    input         TEXT NOT NULL,
    output        TEXT,
    failure       TEXT,
    custom_status TEXT,
    parent        TEXT,                 -- JSON ParentRef
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    history_len   BIGINT NOT NULL DEFAULT 0,  -- events in the current execution's history
    locked_by     TEXT,
    locked_until  BIGINT,
    turn_failures BIGINT NOT NULL DEFAULT 0,
    not_before    BIGINT,               -- no turn before this time (backoff)
    parked        TEXT,                 -- why the instance was parked
    run           TEXT                  -- this incarnation's token
);
CREATE INDEX instances_status ON instances(status, created_at);
-- Children are found by their parent's id (SQLite reads it with json_extract).
CREATE INDEX instances_parent ON instances(((parent::jsonb) ->> 'instance')) WHERE parent IS NOT NULL;

CREATE TABLE history (
    instance    TEXT NOT NULL,
    execution   BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    event       TEXT NOT NULL,          -- JSON HistoryEvent
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (instance, execution, seq)
);

-- Messages waiting for an instance's next turn; timers are messages visible from their firing time.
CREATE TABLE inbox (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance   TEXT NOT NULL,
    execution  BIGINT,                  -- NULL: for whichever execution is current
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,           -- JSON Message
    visible_at BIGINT NOT NULL
);
CREATE INDEX inbox_visible ON inbox(visible_at);
CREATE INDEX inbox_instance ON inbox(instance);

CREATE TABLE work_items (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance     TEXT NOT NULL,
    execution    BIGINT NOT NULL,
    task_id      BIGINT NOT NULL,
    name         TEXT NOT NULL,
    input        TEXT NOT NULL,
    options      TEXT NOT NULL,
    attempt      BIGINT NOT NULL,       -- the attempt the next claim runs, from 1
    first_at     BIGINT NOT NULL,       -- when the first attempt became due
    visible_at   BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    deliveries   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX work_items_visible ON work_items(visible_at);
CREATE INDEX work_items_instance ON work_items(instance);

-- Capabilities of functions (see SQLite's 0002_capabilities.sql).
CREATE TABLE grants (
    function   TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (function, pattern)
);

CREATE TABLE function_config (
    function   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (function, key)
);

CREATE TABLE secrets (
    function   TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (function, name)
);
