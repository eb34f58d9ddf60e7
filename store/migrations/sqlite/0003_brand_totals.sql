-- 0003: topic_brand_totals is the durable counter behind
-- affinity_topic_brand_mentions_total: per topic and brand, the stored posts
-- matching the topic that mention the brand. Like topic_totals it only ever
-- rises (Commit adds in the post's transaction); pruning leaves it alone.
CREATE TABLE topic_brand_totals (
    topic    TEXT    NOT NULL,
    brand    TEXT    NOT NULL,
    mentions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, brand)
);

-- Backfill from the posts still stored: a database pruned before this
-- migration starts from what retention kept (brand counts were not durable
-- before 0003), which a counter reset-free from here on is fine with.
INSERT INTO topic_brand_totals (topic, brand, mentions)
SELECT m.topic, b.brand, COUNT(*)
FROM mentions m JOIN brand_mentions b ON b.post_id = m.post_id
GROUP BY m.topic, b.brand;
