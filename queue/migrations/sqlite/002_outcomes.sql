-- The lasting record of each finished attempt: outcome, vendors,
-- transaction ids and stage timings (stages is idv.Stage JSON: attribute
-- names and codes, never values). No PII.
CREATE TABLE IF NOT EXISTS idv_outcomes (
    result_id text PRIMARY KEY NOT NULL,
    kind text NOT NULL,
    trace_id text NOT NULL,
    outcome text NOT NULL,
    stages text NOT NULL,
    failed_attributes text NOT NULL,
    finished_at text NOT NULL
);

CREATE INDEX IF NOT EXISTS idv_outcomes_finished_at_idx ON idv_outcomes (finished_at);
