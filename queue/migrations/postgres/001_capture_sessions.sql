-- One row per proofing attempt: which result id its job writes to, and the
-- job's River id. No PII. Rows are pruned by the workers' periodic job.
CREATE TABLE IF NOT EXISTS idv_capture_sessions (
    id text PRIMARY KEY,
    result_id text NOT NULL UNIQUE,
    kind text NOT NULL,
    requested_at timestamptz NOT NULL,
    job_id bigint
);

CREATE INDEX IF NOT EXISTS idv_capture_sessions_requested_at_idx
    ON idv_capture_sessions (requested_at);
