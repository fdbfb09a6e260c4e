-- A chunk's heading path (its section's headings), stored so that `toolpark reindex` embeds a chunk
-- as ingest did: its headings and its text. Chunks stored before have none; they are re-embedded
-- from their text alone.
ALTER TABLE chunks ADD COLUMN headings text[] NOT NULL DEFAULT '{}';
