-- Keyword search reads its own collection's postings: a GIN index per collection over its chunks'
-- text (as each has its own HNSW index), in place of one over every collection's chunks, whose
-- postings a search had to intersect with all of its collection's rows (20 ms of a search in a
-- collection of 500,000 chunks, measured by bench/retrieval_scale.py). Collections made from now on
-- get theirs when they are made.
DO $$
DECLARE
    made record;
BEGIN
    FOR made IN SELECT id FROM collections LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS chunks_tsv_%s ON chunks USING gin (tsv) WHERE collection_id = %s',
                       made.id, made.id);
    END LOOP;
END
$$;
DROP INDEX IF EXISTS chunks_tsv;
-- Nor an index of chunks by collection: every search reads its collection's own indexes, which
-- the planner, counting the collection's share of the rows twice, also intersected with this one
-- (30 ms of a keyword search in a collection of 500,000 chunks). What still selects chunks by
-- collection alone (`toolpark reindex`) walks them in id order.
DROP INDEX IF EXISTS chunks_collection;
