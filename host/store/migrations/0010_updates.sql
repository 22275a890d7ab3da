-- Clients' updates (`keel update ID NAME`): the request, and once the orchestrator served it, its
-- outcome. The request reaches the orchestrator as an `Update` message in the inbox; the turn that
-- serves it sets `state` and `outcome` in the same transaction as the history it records (an
-- accepted update's `UpdateAccepted` and `UpdateCompleted`/`UpdateFailed`; a rejected one records no
-- history). Purged with the instance.
CREATE TABLE updates (
    instance     TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    input        TEXT NOT NULL,
    -- Requested, Completed, Failed or Rejected.
    state        TEXT NOT NULL,
    -- The result (Completed) or the failure (Failed, Rejected), as JSON.
    outcome      TEXT,
    requested_ms INTEGER NOT NULL,
    finished_ms  INTEGER,
    PRIMARY KEY (instance, id)
);
