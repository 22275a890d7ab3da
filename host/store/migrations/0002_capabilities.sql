-- Capabilities of functions, changeable without a redeploy: the origins a function may send HTTP
-- requests to, its configuration values, and its secrets (sealed with a key kept outside this file).

CREATE TABLE grants (
    function   TEXT NOT NULL,
    pattern    TEXT NOT NULL,           -- canonical scheme://host[:port]
    created_at INTEGER NOT NULL,
    PRIMARY KEY (function, pattern)
) WITHOUT ROWID;

CREATE TABLE function_config (
    function   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (function, key)
) WITHOUT ROWID;

CREATE TABLE secrets (
    function   TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_id     TEXT NOT NULL,           -- fingerprint of the key that sealed it
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (function, name)
) WITHOUT ROWID;
