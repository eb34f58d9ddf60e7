-- 0002: terms and unconfigured organisations of posts that matched a topic;
-- the PostgreSQL twin of migrations/sqlite/0002.

CREATE TABLE post_terms (
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    term    TEXT   COLLATE "C" NOT NULL,
    display TEXT   COLLATE "C" NOT NULL DEFAULT '',
    ts      BIGINT NOT NULL,
    PRIMARY KEY (post_id, term)
);
CREATE INDEX post_terms_term_ts ON post_terms (term, ts);

CREATE TABLE post_orgs (
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    org     TEXT   COLLATE "C" NOT NULL,
    ts      BIGINT NOT NULL,
    PRIMARY KEY (post_id, org)
);
CREATE INDEX post_orgs_ts ON post_orgs (ts);
