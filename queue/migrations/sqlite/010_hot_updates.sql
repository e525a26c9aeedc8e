-- The open-verifications index selects by finished_at, as on PostgreSQL
-- (where it lets the moves between requires_input and processing update
-- in place); open means finished_at IS NULL.
CREATE INDEX IF NOT EXISTS idv_verifications_unfinished_expires_idx
    ON idv_verifications (expires_at) WHERE finished_at IS NULL;
DROP INDEX IF EXISTS idv_verifications_open_expires_idx;
