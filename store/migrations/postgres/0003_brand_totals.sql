-- 0003: topic_brand_totals, the durable counter behind
-- affinity_topic_brand_mentions_total; the PostgreSQL twin of
-- migrations/sqlite/0003, with the same backfill.
CREATE TABLE topic_brand_totals (
    topic    TEXT   COLLATE "C" NOT NULL,
    brand    TEXT   COLLATE "C" NOT NULL,
    mentions BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, brand)
);

INSERT INTO topic_brand_totals (topic, brand, mentions)
SELECT m.topic, b.brand, COUNT(*)
FROM mentions m JOIN brand_mentions b ON b.post_id = m.post_id
GROUP BY m.topic, b.brand;
