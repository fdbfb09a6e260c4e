-- Collections, documents and chunks. An embedding's dimension is a collection's: each collection
-- gets its own partial HNSW index over `embedding::vector(<dimension>)` when it is created.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE collections (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
    namespace text NOT NULL,
    embedding_model text NOT NULL,
    dimension int NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
    language regconfig NOT NULL DEFAULT 'english',
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

CREATE TABLE documents (
    id bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source_uri text NOT NULL,
    title text,
    content_hash text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, source_uri)
);
CREATE INDEX documents_metadata ON documents USING gin (metadata jsonb_path_ops);

-- Chunks carry a copy of their document's metadata, so filters apply in the same index scan.
CREATE TABLE chunks (
    id bigserial PRIMARY KEY,
    document_id bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    position int NOT NULL,
    page int,
    char_start int NOT NULL,
    char_end int NOT NULL,
    text text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    embedding vector NOT NULL,
    tsv tsvector NOT NULL
);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_metadata ON chunks USING gin (metadata jsonb_path_ops);
CREATE INDEX chunks_document ON chunks (document_id, position);
CREATE INDEX chunks_collection ON chunks (collection_id);
