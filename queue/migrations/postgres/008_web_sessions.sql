-- Web sessions kept in the database: `idv dev` (SQLite) keeps its person
-- sessions here so that a restart does not lose them; production keeps
-- sessions in Redis and leaves this table empty. data is the session as the
-- web tier's codec wrote it: sealed by idv's envelope sealer, never clear.
CREATE TABLE IF NOT EXISTS idv_web_sessions (
    token text PRIMARY KEY,
    data bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idv_web_sessions_expiry ON idv_web_sessions (expiry);
