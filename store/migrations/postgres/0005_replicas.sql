-- 0005: leases and the stored scoring snapshot; the PostgreSQL twin of migrations/sqlite/0005. A claim is one
-- INSERT … ON CONFLICT DO UPDATE … WHERE: PostgreSQL locks the row and
-- re-checks the WHERE on its latest version, so two replicas never both win.
CREATE TABLE leases (
    name       TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL -- unix milliseconds
);

CREATE TABLE scoring_snapshots (
    id          INTEGER NOT NULL PRIMARY KEY,
    computed_at BIGINT  NOT NULL,
    holder      TEXT    NOT NULL,
    body        TEXT    NOT NULL
);
