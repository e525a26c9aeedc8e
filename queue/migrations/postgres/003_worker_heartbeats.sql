-- One row per running worker process, keyed by its River client id (the id
-- River appends to river_job.attempted_by when the process takes a job),
-- refreshed every few seconds by the process. A running job whose last
-- client's row is stale, or missing, is taken as lost with a dead worker and
-- made available again (queue/liveness.go). Times are the database's clock.
-- No PII: client ids are host names, process ids and random suffixes.
CREATE TABLE IF NOT EXISTS idv_worker_heartbeats (
    client_id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    beat_at timestamptz NOT NULL DEFAULT now()
);
