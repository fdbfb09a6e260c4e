-- A collection's HNSW index may hold its vectors in half precision (halfvec): half the index's
-- memory and disk, its build faster, at the same recall@10 for the embeddings in use (measured
-- by bench/retrieval_scale.py). Collections made before keep their full-precision index; new
-- ones are made with half.
ALTER TABLE collections ADD COLUMN index_precision text NOT NULL DEFAULT 'full'
    CHECK (index_precision IN ('full', 'half'));
ALTER TABLE collections ALTER COLUMN index_precision SET DEFAULT 'half';
