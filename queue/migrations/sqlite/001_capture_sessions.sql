-- One row per proofing attempt: which result id its job writes to, and the
-- job's River id. No PII. Rows are pruned by the workers' periodic job.
-- requested_at is UTC text, "YYYY-MM-DD HH:MM:SS.fffffffff", which sorts in
-- time order and which SQLite's date functions read.
CREATE TABLE IF NOT EXISTS idv_capture_sessions (
    id text PRIMARY KEY NOT NULL,
    result_id text NOT NULL UNIQUE,
    kind text NOT NULL,
    requested_at text NOT NULL,
    job_id integer
);

CREATE INDEX IF NOT EXISTS idv_capture_sessions_requested_at_idx
    ON idv_capture_sessions (requested_at);
