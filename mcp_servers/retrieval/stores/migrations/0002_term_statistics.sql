-- Per-collection term statistics for BM25 ranking of keyword search: how many chunks hold each
-- lexeme, kept in step with the chunks in the same transactions that write them.
CREATE TABLE collection_terms (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    term text NOT NULL,
    chunks int NOT NULL CHECK (chunks >= 0),
    PRIMARY KEY (collection_id, term)
);

CREATE TABLE collection_sizes (
    collection_id bigint PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    chunks bigint NOT NULL DEFAULT 0,
    lexemes bigint NOT NULL DEFAULT 0
);
