-- 0009: the PostgreSQL twin of migrations/sqlite/0009, which moves SQLite's
-- near-duplicate keys into the posts' rows because SQLite looks them up in
-- memory. PostgreSQL looks them up in SQL, by the (key, ts, post_id) primary
-- key of post_neardup_keys, so its schema stays as it is.
SELECT 1;
