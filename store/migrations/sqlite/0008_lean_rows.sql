-- 0008: fewer b-trees per row written. A rowid table with a composite
-- primary key is two b-trees (the rows by rowid, the key's index); the
-- tables below are only ever reached by their primary key or their own
-- index, so WITHOUT ROWID stores each row once, in its key's b-tree: one
-- b-tree insert less per mention, brand mention, term and organisation.
-- post_orgs_ts goes: organisations are read through mentions by post_id and
-- pruned by post_id, never by time. Rebuilding copies the rows once, at the
-- first start of this version (a few seconds per million rows).

CREATE TABLE mentions_0008 (
    post_id    INTEGER NOT NULL ON CONFLICT FAIL REFERENCES posts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    topic      TEXT    NOT NULL ON CONFLICT FAIL,
    format     TEXT    NOT NULL ON CONFLICT FAIL DEFAULT '',
    author     TEXT    NOT NULL ON CONFLICT FAIL DEFAULT '',
    ts         INTEGER NOT NULL ON CONFLICT FAIL,
    engagement REAL    NOT NULL ON CONFLICT FAIL DEFAULT 0,
    sentiment  REAL    NOT NULL ON CONFLICT FAIL DEFAULT 0,
    PRIMARY KEY (post_id, topic)
) WITHOUT ROWID;
INSERT INTO mentions_0008 (post_id, topic, format, author, ts, engagement, sentiment)
SELECT post_id, topic, format, author, ts, engagement, sentiment FROM mentions;
DROP TABLE mentions;
ALTER TABLE mentions_0008 RENAME TO mentions;
-- As in 0001: a window reads only its topic's range of this index.
CREATE INDEX mentions_topic_ts ON mentions (topic, ts, format, author, engagement, sentiment);

CREATE TABLE brand_mentions_0008 (
    post_id INTEGER NOT NULL ON CONFLICT FAIL REFERENCES posts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    brand   TEXT    NOT NULL ON CONFLICT FAIL,
    ts      INTEGER NOT NULL ON CONFLICT FAIL,
    PRIMARY KEY (post_id, brand)
) WITHOUT ROWID;
INSERT INTO brand_mentions_0008 (post_id, brand, ts) SELECT post_id, brand, ts FROM brand_mentions;
DROP TABLE brand_mentions;
ALTER TABLE brand_mentions_0008 RENAME TO brand_mentions;
CREATE INDEX brand_mentions_ts ON brand_mentions (ts);

CREATE TABLE post_terms_0008 (
    post_id INTEGER NOT NULL ON CONFLICT FAIL REFERENCES posts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    term    TEXT    NOT NULL ON CONFLICT FAIL,
    display TEXT    NOT NULL ON CONFLICT FAIL DEFAULT '',
    ts      INTEGER NOT NULL ON CONFLICT FAIL,
    PRIMARY KEY (post_id, term)
) WITHOUT ROWID;
INSERT INTO post_terms_0008 (post_id, term, display, ts) SELECT post_id, term, display, ts FROM post_terms;
DROP TABLE post_terms;
ALTER TABLE post_terms_0008 RENAME TO post_terms;
CREATE INDEX post_terms_term_ts ON post_terms (term, ts);

CREATE TABLE post_orgs_0008 (
    post_id INTEGER NOT NULL ON CONFLICT FAIL REFERENCES posts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    org     TEXT    NOT NULL ON CONFLICT FAIL,
    ts      INTEGER NOT NULL ON CONFLICT FAIL,
    PRIMARY KEY (post_id, org)
) WITHOUT ROWID;
INSERT INTO post_orgs_0008 (post_id, org, ts) SELECT post_id, org, ts FROM post_orgs;
DROP TABLE post_orgs;
ALTER TABLE post_orgs_0008 RENAME TO post_orgs;
