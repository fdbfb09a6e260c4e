"""`toolpark reindex`: a collection embedded with another model (an operator changed the embedding
model) is refused by search with a message naming the command, and after the command runs it is
searched with the server's model, its chunks embedded as ingest embeds them (headings, then text);
every store re-embeds (`Store.reembed`)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import anyio
import pytest

from tests.mcp_servers.retrieval.calls import FRONTEND_KEYS, GENERIC, call, text
from tests.mcp_servers.retrieval.test_store_contract import STORES, store_settings
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.chunking import Chunk, embedded_text
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.stores.opening import open_store
from toolpark.testing import RunningHost, serve_http

TRAINS = "Trains are preferred over flights for trips under 600 km; book second class."
OLD = {"model": "bge-m3", "dimension": 1024}


@pytest.fixture(scope="module")
def running(database: str) -> Iterator[RunningHost]:
    with serve_http(retrieval, settings={"database_url": database}, auth=FRONTEND_KEYS) as host:
        yield host


async def _old_collection(database: str, namespace: str, name: str) -> None:
    """A collection as a server with another model left it: its vectors mean nothing to this one."""
    async with open_store("pgvector", database, None, pool_size=1, timeout_s=30) as store:
        made = await store.create_collection(namespace=namespace, name=name, language="english", description="", **OLD)
        bodies = {"travel": (TRAINS, ("Travel policy", "Trains")), **{f"w{n}": (g, ()) for n, g in enumerate(GENERIC)}}
        for source, (body, headings) in bodies.items():
            chunk = Chunk(text=body, page=None, char_start=0, char_end=len(body), headings=headings)
            await store.ingest(made, source_uri=source, title=source, content_hash=source, metadata={},
                               chunks=[chunk], vectors=[[0.03] * 1024])  # fmt: skip


def _reindex(database: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOOLPARK_RETRIEVAL_DATABASE_URL": database}
    command = [sys.executable, "-m", "toolpark", "reindex", *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_reindex_embeds_a_collection_again_with_the_servers_model(running: RunningHost, database: str) -> None:
    anyio.run(_old_collection, database, "user:carol", "policies")
    refused = anyio.run(
        lambda: call(running, "search", user="carol", query="may I take the train?", collection="policies")
    )
    assert refused.is_error and "toolpark reindex policies --namespace user:carol" in text(refused)

    done = _reindex(database, "policies")
    assert done.returncode == 0, done.stderr
    model = LocalEmbedder()
    assert f"user:carol/policies: 31 chunks embedded with {model.model} (384 dimensions)" in done.stdout
    assert "before bge-m3 (1024)" in done.stdout

    found = anyio.run(lambda: call(running, "search", user="carol", query="may I take the train?", mode="vector",
                                    collection="policies", k=3))  # fmt: skip
    assert not found.is_error, text(found)
    top = found.structured_content["passages"][0]
    assert top["text"] == TRAINS and top["citation"]["score"] > 0.4, top
    listed = anyio.run(lambda: call(running, "list_collections", user="carol"))
    (info,) = listed.structured_content["collections"]
    assert (info["embedding_model"], info["dimension"]) == (model.model, 384)

    # Embedded as ingest embeds: the headings, then the text.
    stored = anyio.run(_stored_vector, database, TRAINS)
    (expected,) = anyio.run(model.embed, [embedded_text(("Travel policy", "Trains"), TRAINS)])
    assert _cosine(stored, expected) > 0.999

    again = _reindex(database, "policies", "--namespace", "user:carol")
    assert again.returncode == 0 and "already: nothing to do" in again.stdout, again.stderr


def test_reindex_names_what_it_cannot_find_or_tell_apart(database: str) -> None:
    anyio.run(_old_collection, database, "user:dan", "shared-name")
    anyio.run(_old_collection, database, "team", "shared-name")
    missing = _reindex(database, "nope")
    assert missing.returncode != 0 and "no collection 'nope'" in missing.stderr
    ambiguous = _reindex(database, "shared-name")
    assert ambiguous.returncode != 0 and "is in several namespaces (team, user:dan)" in ambiguous.stderr
    elsewhere = _reindex(database, "shared-name", "--namespace", "user:erin")
    assert elsewhere.returncode != 0 and "in user:erin (it is in team, user:dan)" in elsewhere.stderr


async def _stored_vector(database: str, chunk_text: str) -> list[float]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(database) as conn:
        cursor = await conn.execute("SELECT embedding::text FROM chunks WHERE text = %s", (chunk_text,))
        row = await cursor.fetchone()
    assert row is not None
    return [float(x) for x in row[0].strip("[]").split(",")]


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.mark.parametrize("kind", STORES)
def test_every_store_embeds_a_collection_again(
    kind: str, embedder: LocalEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 8 dimensions of another model to the local model's 384: vector search finds the passage
    after, keyword search and the stored text are as before, and a new document fits the new size."""
    monkeypatch.setenv("TOOLPARK_DATA_DIR", str(tmp_path / "data"))
    steps: list[tuple[int, int]] = []

    async def run() -> None:
        with ExitStack() as stack:
            settings = store_settings(kind, tmp_path, stack)
            async with open_store(
                settings["store"], settings.get("store_url"), None, pool_size=2, timeout_s=30
            ) as store:
                made = await store.create_collection(namespace="user:carol", name="policies", model="old", dimension=8,
                                                     language="english", description="")  # fmt: skip
                for n, body in enumerate([TRAINS, *GENERIC[:5]]):
                    chunk = Chunk(text=body, page=None, char_start=0, char_end=len(body), headings=())
                    await store.ingest(made, source_uri=f"s{n}", title=f"s{n}", content_hash=str(n), metadata={"n": n},
                                       chunks=[chunk], vectors=[[0.1 + n / 100] * 8])  # fmt: skip
                done = await store.reembed(made, model=embedder.model, dimension=384, embed=embedder.embed,
                                           progress=lambda d, t: steps.append((d, t)))  # fmt: skip
                (after,) = await store.collections(["user:carol"])
                (query,) = await embedder.embed(["may I take the train?"])
                near = await store.search(after, mode="vector", query="", vector=query, k=2, filters=None)
                words = await store.search(after, mode="keyword", query="flights", vector=None, k=1, filters=None)
                listed = await store.documents(after, limit=10, offset=0)
                _, chunks = await store.document(after, listed[0].id)
                body = "A new policy: trams are free on Sundays."
                chunk = Chunk(text=body, page=None, char_start=0, char_end=len(body), headings=())
                (vector,) = await embedder.embed([body])
                _, status = await store.ingest(after, source_uri="new", title="new", content_hash="new", metadata={},
                                               chunks=[chunk], vectors=[vector])  # fmt: skip
        assert done == 6 and steps[-1] == (6, 6)
        assert (after.embedding_model, after.dimension) == (embedder.model, 384)
        assert near[0].text == TRAINS and words[0].text == TRAINS
        assert len(listed) == 6 and chunks[0].text in [TRAINS, *GENERIC[:5]] and status == "created"

    anyio.run(run)
