-- Web sessions kept in the database: `idv dev` keeps its person sessions
-- here so that a restart (even kill -9) does not lose them. data is the
-- session as the web tier's codec wrote it: sealed by idv's envelope
-- sealer, never clear.
CREATE TABLE IF NOT EXISTS idv_web_sessions (
    token text PRIMARY KEY NOT NULL,
    data blob NOT NULL,
    expiry text NOT NULL
);
CREATE INDEX IF NOT EXISTS idv_web_sessions_expiry ON idv_web_sessions (expiry);
