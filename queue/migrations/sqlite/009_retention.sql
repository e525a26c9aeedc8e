-- Indexes for the retention job (queue/retention.go): it deletes finished
-- verifications by finished_at and webhook events by created_at, in
-- batches. idv_outcomes already has idv_outcomes_finished_at_idx.
CREATE INDEX IF NOT EXISTS idv_verifications_finished_idx
    ON idv_verifications (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idv_webhook_events_created_idx ON idv_webhook_events (created_at);
