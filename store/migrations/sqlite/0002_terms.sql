-- 0002: terms and unconfigured organisations of posts that matched a topic.
-- Rows are written with their post in the same transaction and carry the
-- post's time, so a window reads an index range, never the posts table.

-- post_terms holds each term of a post once. term is the merge key (Porter
-- stems, or "#" and the folded hashtag); display is the form this post used,
-- the most frequent of which is what a person reads.
CREATE TABLE post_terms (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    term    TEXT    NOT NULL,
    display TEXT    NOT NULL DEFAULT '',
    ts      INTEGER NOT NULL,
    PRIMARY KEY (post_id, term)
);
-- A topic's terms are read through mentions (topic, ts) and then this
-- table's primary key by post_id; the background count of one term over a
-- window is a range of this index.
CREATE INDEX post_terms_term_ts ON post_terms (term, ts);

-- post_orgs holds each organisation-like name of a post once, as written.
CREATE TABLE post_orgs (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    org     TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (post_id, org)
);
CREATE INDEX post_orgs_ts ON post_orgs (ts);
