-- 0004: near-duplicates; the PostgreSQL twin of migrations/sqlite/0004. A
-- post matching a stored post's near-duplicate keys within the horizon is
-- stored as a copy of it (copy_of), counted on the original (copies).
ALTER TABLE posts ADD COLUMN copy_of BIGINT NOT NULL DEFAULT 0; -- posts.id of the original; 0: an original
ALTER TABLE posts ADD COLUMN copies  BIGINT NOT NULL DEFAULT 0; -- copies collapsed into this post

CREATE TABLE post_neardup_keys (
    key     BIGINT NOT NULL, -- the key's 64 bits as a signed integer
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    ts      BIGINT NOT NULL,
    PRIMARY KEY (key, ts, post_id) -- a lookup's nearest posts by time under one key: store/neardup.go
);
CREATE INDEX post_neardup_keys_post ON post_neardup_keys (post_id);
