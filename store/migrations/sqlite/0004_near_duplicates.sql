-- 0004: near-duplicates. A post whose near-duplicate keys (analysis.NearDupKeys)
-- match a stored post's within the configured horizon is stored as a copy of
-- it: copy_of names the original, the original's copies counts them, and the
-- copy gets no mentions, terms or totals of its own. Posts stored before this
-- migration have no keys, so only posts from now on collapse.
ALTER TABLE posts ADD COLUMN copy_of INTEGER NOT NULL DEFAULT 0; -- posts.id of the original; 0: an original
ALTER TABLE posts ADD COLUMN copies  INTEGER NOT NULL DEFAULT 0; -- copies collapsed into this post

-- post_neardup_keys holds the keys of original posts (copies are never
-- matched: a copy of a copy counts for the original). A lookup reads, per key,
-- the nearest few posts in time within the horizon: one range of the primary
-- key (key, ts, post_id) each way, bounded however many posts share the key
-- (store/neardup.go). A post has one ts, so the key is unique per (key,
-- post_id) as well; WITHOUT ROWID keeps the rows in that one b-tree.
CREATE TABLE post_neardup_keys (
    key     INTEGER NOT NULL, -- the key's 64 bits as a signed integer
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (key, ts, post_id)
) WITHOUT ROWID;
-- Prune deletes by post.
CREATE INDEX post_neardup_keys_post ON post_neardup_keys (post_id);
