-- Updates on the job path stay on their page (HOT: no index entries to
-- add) where they can. An UPDATE is HOT only when it changes no column an
-- index covers, predicates included, and the page has room for the new
-- version:
-- - the open-verifications index now selects by finished_at (set once, on
--   the move to a final status) rather than by status, so the moves
--   between requires_input and processing that every attempt makes are
--   HOT-eligible; only the final move touches indexes;
-- - verifications and steps leave a fifth of each new page free for the
--   new versions of its rows (existing pages keep theirs until rewritten).
-- Open means finished_at IS NULL: every change to a final status sets
-- finished_at in the same statement (queue/verifications.go).
CREATE INDEX IF NOT EXISTS idv_verifications_unfinished_expires_idx
    ON idv_verifications (expires_at) WHERE finished_at IS NULL;
DROP INDEX IF EXISTS idv_verifications_open_expires_idx;
ALTER TABLE idv_verifications SET (fillfactor = 80);
ALTER TABLE idv_verification_steps SET (fillfactor = 80);
