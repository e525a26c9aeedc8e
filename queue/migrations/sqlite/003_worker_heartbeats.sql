-- The PostgreSQL backend's worker heartbeats (see its 003 migration), kept
-- here so the backends stay in step. `idv dev` is one process, so nothing
-- writes or reads this table on SQLite: a dead dev process takes its jobs
-- with it, and River's rescuer re-runs them after jobs.rescue_after.
CREATE TABLE IF NOT EXISTS idv_worker_heartbeats (
    client_id text PRIMARY KEY NOT NULL,
    started_at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    beat_at text NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
