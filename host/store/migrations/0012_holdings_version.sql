-- A counter that every change to what an activity attempt reads before it runs (its function's
-- grants, configuration, secrets and active module) moves on, in the same transaction: a process
-- keeps those reads and checks this one row instead of reading them all again for every attempt,
-- and sees a change made by any process at its next attempt.
CREATE TABLE holdings_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO holdings_version (id, version) VALUES (1, 0);

CREATE TRIGGER grants_insert_moves_holdings AFTER INSERT ON grants
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER grants_update_moves_holdings AFTER UPDATE ON grants
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER grants_delete_moves_holdings AFTER DELETE ON grants
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER function_config_insert_moves_holdings AFTER INSERT ON function_config
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER function_config_update_moves_holdings AFTER UPDATE ON function_config
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER function_config_delete_moves_holdings AFTER DELETE ON function_config
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER secrets_insert_moves_holdings AFTER INSERT ON secrets
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER secrets_update_moves_holdings AFTER UPDATE ON secrets
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER secrets_delete_moves_holdings AFTER DELETE ON secrets
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER functions_insert_moves_holdings AFTER INSERT ON functions
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER functions_update_moves_holdings AFTER UPDATE ON functions
BEGIN UPDATE holdings_version SET version = version + 1; END;

CREATE TRIGGER functions_delete_moves_holdings AFTER DELETE ON functions
BEGIN UPDATE holdings_version SET version = version + 1; END;
