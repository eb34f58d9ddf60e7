-- 0007: near-duplicates independent of arrival order. A post is a copy when an
-- earlier-dated similar post exists (store/neardup.go), so a post arriving
-- after a later-dated similar original demotes it, and that original's copies
-- move to the new original: this index finds them. From now on copies keep
-- their near-duplicate keys too, so any similar post is found, original or not.
CREATE INDEX posts_copy_of ON posts (copy_of) WHERE copy_of <> 0;
