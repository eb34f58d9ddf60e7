-- 0009: a post's near-duplicate keys live in its own row. SQLite answers
-- near-duplicate lookups from memory (store/neardup_index.go), so its keys
-- are only read whole, at start and for a backfill older than what memory
-- holds: 16 rows of post_neardup_keys (two b-tree inserts each, at random
-- places) cost a third of a near-duplicate commit, 128 bytes more in the
-- post's row almost nothing. The keys are 8 bytes each, big-endian, NULL
-- when the post has none; a post listing a key twice keeps it once here.
-- PostgreSQL keeps post_neardup_keys: it looks up in SQL.
ALTER TABLE posts ADD COLUMN neardup_keys BLOB;
UPDATE posts SET neardup_keys = (
    SELECT unhex(group_concat(printf('%016x', k.key), '')) FROM post_neardup_keys k WHERE k.post_id = posts.id
) WHERE id IN (SELECT post_id FROM post_neardup_keys);
DROP TABLE post_neardup_keys;
