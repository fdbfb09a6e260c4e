"""`toolpark ingest` of a folder with several documents in flight, against the real HTTP host, the
embedded PostgreSQL and the local model; and the local model's shared encodes."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from tests.mcp_servers.retrieval.calls import GENERIC, NEEDLE
from toolpark.devtools.cli import main
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.ingesting import BATCH_BYTES, BATCH_DOCUMENTS, calls, sources
from toolpark.operations.embedded import postgres
from toolpark.security.keys import hash_key
from toolpark.testing import serve_http

KEY = "tpk_ingest"


def _terms_drift(url: str) -> list[tuple[object, ...]]:
    """Rows where the kept term statistics differ from a recount over the stored chunks."""
    recount = (
        "SELECT collection_id, t.lexeme AS term, count(*)::int AS chunks FROM chunks, unnest(tsv) t "
        "GROUP BY collection_id, t.lexeme"
    )
    with psycopg.connect(url) as conn:
        terms = conn.execute(
            f"SELECT * FROM (({recount}) EXCEPT (SELECT collection_id, term, chunks FROM collection_terms WHERE "
            f"chunks > 0)) a UNION ALL SELECT * FROM ((SELECT collection_id, term, chunks FROM collection_terms "
            f"WHERE chunks > 0) EXCEPT ({recount})) b"
        ).fetchall()
        sizes = conn.execute(
            "SELECT s.collection_id FROM collection_sizes s WHERE s.chunks <> "
            "(SELECT count(*) FROM chunks c WHERE c.collection_id = s.collection_id)"
        ).fetchall()
    return terms + sizes


def test_a_folder_is_ingested_concurrently_and_a_failed_document_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n, body in enumerate([*GENERIC[:20], NEEDLE]):
        (folder / f"doc{n:02}.md").write_text(f"# Widget note {n}\n\n{body}\n")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
    with (
        postgres(tmp_path / "pg") as database,
        serve_http(
            retrieval,
            settings={"retrieval": {"database_url": database.url, "chunk_tokens": 40, "chunk_overlap": 8}},
            auth={"api_keys": [{"name": "ops", "hash": hash_key(KEY)}]},
        ) as running,
    ):
        command = [
            "ingest", str(folder), "--collection", "notes", "--create", "--concurrency", "6", "--batch", "3",
            "--url", running.url("retrieval"), "--api-key", KEY,
        ]  # fmt: skip
        first = CliRunner().invoke(main, command)
        again = CliRunner().invoke(main, command)
        drift = _terms_drift(database.url)
        with psycopg.connect(database.url) as conn:
            stored = {row[0].rsplit("/", 1)[-1] for row in conn.execute("SELECT source_uri FROM documents")}

    assert first.exit_code == 1 and "broken.pdf" in first.output
    assert first.output.strip().splitlines()[-1] == "21 created, 1 failed"
    assert stored == {f"doc{n:02}.md" for n in range(21)}  # nothing of the broken file
    assert drift == []  # concurrent writers kept the keyword statistics exact
    assert again.output.strip().splitlines()[-1] == "1 failed, 21 unchanged"


@pytest.mark.anyio
async def test_concurrent_embeds_share_encodes_and_each_gets_its_own_vectors() -> None:
    embedder = await anyio.to_thread.run_sync(LocalEmbedder)
    texts = [[f"{body} ({n})", NEEDLE] for n, body in enumerate(GENERIC[:12])]
    alone = [await embedder.embed(pair) for pair in texts]
    encodes = 0
    encode = embedder._model.encode

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal encodes
        encodes += 1
        return encode(*args, **kwargs)

    embedder._model.encode = counted  # type: ignore[method-assign]
    together: list[list[list[float]]] = [[] for _ in texts]

    async def one(n: int) -> None:
        together[n] = await embedder.embed(texts[n])

    async with anyio.create_task_group() as group:
        for n in range(len(texts)):
            group.start_soon(one, n)
    assert encodes < len(texts)
    for single, shared in zip(alone, together, strict=True):
        assert np.allclose(single, shared, atol=1e-5)


def test_small_text_files_go_in_shared_calls_and_everything_else_alone(tmp_path: Path) -> None:
    for n in range(BATCH_DOCUMENTS + 6):
        (tmp_path / f"a{n:03}.md").write_text(f"note {n}")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "c.html").write_text("<p>page</p>")
    (tmp_path / "d.txt").write_text("x" * (BATCH_BYTES + 1))  # too big to share a call
    (tmp_path / "e.md").write_text("y" * (BATCH_BYTES - 10))  # fits, but not beside the six before it
    (tmp_path / "f.md").write_text("last")
    found = calls(sources([str(tmp_path)]))
    grouped = [([s.location.rsplit("/", 1)[-1] for s in call.sources], call.batched) for call in found]
    assert grouped == [
        ([f"a{n:03}.md" for n in range(BATCH_DOCUMENTS)], True),
        (["b.pdf"], False), (["c.html"], False), (["d.txt"], False),
        ([f"a{n:03}.md" for n in range(BATCH_DOCUMENTS, BATCH_DOCUMENTS + 6)], True),
        (["e.md", "f.md"], True),
    ]  # fmt: skip
