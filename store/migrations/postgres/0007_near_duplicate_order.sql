-- 0007: near-duplicates independent of arrival order; the PostgreSQL twin of
-- migrations/sqlite/0007. The index finds the copies of a demoted original.
CREATE INDEX posts_copy_of ON posts (copy_of) WHERE copy_of <> 0;
