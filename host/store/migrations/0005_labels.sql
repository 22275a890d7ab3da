-- Version labels: one module (one digest) may carry several, since deploying the same bytes again with
-- `--version` adds a label to the module already stored instead of a row of its own. Every label is
-- here; `modules.version` and `functions.version` keep the one the bytes were first deployed with.
CREATE TABLE labels (
    digest   TEXT NOT NULL REFERENCES modules(digest),
    label    TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (digest, label)
);
INSERT INTO labels (digest, label, added_at) SELECT digest, version, deployed_at FROM modules;
