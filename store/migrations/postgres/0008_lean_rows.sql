-- 0008: fewer index entries per row written; the PostgreSQL twin of
-- migrations/sqlite/0008. PostgreSQL has no rowid b-tree to drop (a heap
-- row plus its primary key's index is what WITHOUT ROWID gives SQLite), so
-- only the unused index goes: organisations are read through mentions by
-- post_id and pruned by post_id, never by time.
DROP INDEX post_orgs_ts;
