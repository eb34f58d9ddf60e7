-- 0005: leases and the stored scoring snapshot. Replicas sharing one database divide work by row leases: a
-- name ("source:NAME", "scoring") is held by one replica until expires_at,
-- renewed while it works, and taken over by another once it lapses. SQLite
-- runs one replica, so there the table only keeps the schema level with
-- PostgreSQL's (and lets the store tests prove the SQL on both).
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL, -- the replica id: host, pid and a random suffix
    expires_at INTEGER NOT NULL  -- unix milliseconds
);

-- scoring_snapshots holds the latest scoring snapshot the scoring leader
-- computed (one row, id 1), as JSON, so every replica serves the same gauges.
CREATE TABLE scoring_snapshots (
    id          INTEGER NOT NULL PRIMARY KEY,
    computed_at INTEGER NOT NULL, -- unix milliseconds
    holder      TEXT    NOT NULL, -- the replica that computed it
    body        TEXT    NOT NULL  -- affinity.Snapshot as JSON
);
