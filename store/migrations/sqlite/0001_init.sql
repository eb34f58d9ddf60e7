-- 0001: the initial schema. Times are unix seconds (0 = none). The SQL stays
-- portable so the PostgreSQL migration with the same number mirrors it.

-- posts holds every stored post once: by (source, external_id) and, where it
-- has one, by canonical URL (the partial unique index below).
CREATE TABLE posts (
    id            INTEGER PRIMARY KEY,
    source        TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    url           TEXT    NOT NULL DEFAULT '',
    canonical_url TEXT    NOT NULL DEFAULT '',
    author        TEXT    NOT NULL DEFAULT '',
    published     INTEGER NOT NULL DEFAULT 0,
    collected     INTEGER NOT NULL DEFAULT 0,
    ts            INTEGER NOT NULL,
    lang          TEXT    NOT NULL DEFAULT '',
    title         TEXT    NOT NULL DEFAULT '',
    text          TEXT    NOT NULL DEFAULT '',
    likes         INTEGER NOT NULL DEFAULT 0,
    reposts       INTEGER NOT NULL DEFAULT 0,
    replies       INTEGER NOT NULL DEFAULT 0,
    score         INTEGER NOT NULL DEFAULT 0,
    format        TEXT    NOT NULL DEFAULT '',
    UNIQUE (source, external_id)
);
CREATE UNIQUE INDEX posts_canonical_url ON posts (canonical_url) WHERE canonical_url <> '';
-- Prune walks posts by time.
CREATE INDEX posts_ts ON posts (ts);

-- mentions is one row per (post, topic), denormalized with what the window
-- queries need so they never touch posts.
CREATE TABLE mentions (
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    topic      TEXT    NOT NULL,
    format     TEXT    NOT NULL DEFAULT '',
    author     TEXT    NOT NULL DEFAULT '',
    ts         INTEGER NOT NULL,
    engagement REAL    NOT NULL DEFAULT 0,
    sentiment  REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (post_id, topic)
);
-- Windows are read per topic over a time range and Evidence newest first by
-- topic; carrying the aggregated columns makes the index covering, so a window
-- reads only its own index range, never the table.
CREATE INDEX mentions_topic_ts ON mentions (topic, ts, format, author, engagement, sentiment);

-- brand_mentions carries the post's time too, so a window's brand counts start
-- from the (usually few) brand mentions in range, not from every mention.
CREATE TABLE brand_mentions (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    brand   TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (post_id, brand)
);
CREATE INDEX brand_mentions_ts ON brand_mentions (ts);

-- topic_totals is the durable counter behind affinity_topic_mentions_total:
-- it only ever rises, pruning leaves it alone.
CREATE TABLE topic_totals (
    topic    TEXT    NOT NULL,
    format   TEXT    NOT NULL,
    mentions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, format)
);

CREATE TABLE source_state (
    source        TEXT    PRIMARY KEY,
    cursor        TEXT    NOT NULL DEFAULT '',
    etag          TEXT    NOT NULL DEFAULT '',
    last_modified TEXT    NOT NULL DEFAULT '',
    next_check    INTEGER NOT NULL DEFAULT 0
);
