-- 0006: the configuration each replica runs. A replica's presence lease
-- ("replica:ID") carries a hash of its configuration, so replicas sharing
-- the database notice one started with another file (a rollout left half
-- done) and say so in logs and affinity_replicas_config_mismatch.
ALTER TABLE leases ADD COLUMN config_hash TEXT NOT NULL DEFAULT '';
