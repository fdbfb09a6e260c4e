"""The retrieval tools' guarantees on every vector store that runs here, through the real HTTP host:
citations, keyword and hybrid search, filters in every mode, tenant namespaces, all-or-nothing
re-ingest, delete.

The stores: pgvector (the embedded PostgreSQL), Chroma embedded and Chroma's own server (`chroma
run`), Qdrant's client in local mode (a Python engine in the client, *not the Qdrant server*: no
server package installs here), and Milvus Lite 3 (a Python engine over FAISS that the pymilvus
client talks to, *not the Milvus server*). Weaviate is not here: its server is a Go binary that no
registry reachable here ships, and its embedded mode downloads that binary at run time.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.mcp_servers.retrieval.calls import FRONTEND_KEYS, GENERIC, NEEDLE, call, collection_with, text
from tests.processes import spawn, wait_ok
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.chunking import chunk_text
from toolpark.operations.embedded import postgres, stop_process
from toolpark.testing import RunningHost, free_port, serve_http

pytestmark = pytest.mark.anyio

STORES = ["pgvector", "chroma", "chroma-server", "qdrant-local-mode-not-server", "milvus-lite-not-server"]


def store_settings(kind: str, folder: Path, stack: ExitStack) -> dict[str, Any]:
    """The retrieval settings of one store kind, its server (where it has one) started on `stack`."""
    if kind == "pgvector":
        return {"store": "pgvector", "store_url": stack.enter_context(postgres(folder / "pg")).url}
    if kind == "chroma-server":
        port = free_port()
        chroma = shutil.which("chroma", path=os.path.dirname(sys.executable))
        assert chroma, "chromadb's `chroma` command is installed with the venv"
        log = folder / "chroma.log"
        process = spawn([chroma, "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
                        log, dict(os.environ), folder)  # fmt: skip
        stack.callback(stop_process, process)
        wait_ok(f"http://127.0.0.1:{port}/api/v2/heartbeat", process, log)
        return {"store": "chroma", "store_url": f"http://127.0.0.1:{port}"}
    return {"store": kind.split("-")[0]}  # embedded under TOOLPARK_DATA_DIR


@pytest.fixture(scope="module", params=STORES)
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    folder = tmp_path_factory.mktemp(request.param)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLPARK_DATA_DIR", str(folder / "data"))
        settings = {**store_settings(request.param, folder, stack), "chunk_tokens": 60, "chunk_overlap": 10}
        yield stack.enter_context(
            serve_http(
                retrieval,
                settings={"retrieval": settings},
                auth=FRONTEND_KEYS,
            )
        )


def sources(found: Any) -> list[str]:
    assert not found.is_error, text(found)
    return [p["citation"]["source_uri"] for p in found.structured_content["passages"]]


async def test_search_returns_the_passage_with_its_citation(running: RunningHost) -> None:
    body = "\n\n".join([*GENERIC[:10], NEEDLE, *GENERIC[10:20]])
    await collection_with(running, "manuals", manual=body)
    for mode in ("hybrid", "vector", "keyword"):
        found = await call(running, "search", collection="manuals", query="what does error E4711 mean?", mode=mode)
        top = found.structured_content["passages"][0]
        assert NEEDLE in top["text"], mode
        citation = top["citation"]
        assert citation["source_uri"] == "manual" and citation["title"] == "manual"
        assert body[citation["char_start"] : citation["char_end"]] == top["text"]
    assert "[1] manual (collection manuals, document" in text(found)


async def test_keyword_search_finds_the_rare_code_and_hybrid_lifts_it(running: RunningHost) -> None:
    documents = {f"doc-{n}": g for n, g in enumerate(GENERIC)}
    documents["needle"] = "Returns desk: parcel labels for code E4711 are printed at the loading dock on Fridays."
    await collection_with(running, "keywords", **documents)

    async def rank(mode: str) -> int:
        found = sources(await call(running, "search", collection="keywords", query="widget warranty code E4711",
                                   mode=mode, k=20))  # fmt: skip
        return found.index("needle") + 1 if "needle" in found else 99

    keyword, hybrid, vector = await rank("keyword"), await rank("hybrid"), await rank("vector")
    assert keyword == 1 and hybrid < vector


async def test_filters_apply_in_every_mode(running: RunningHost) -> None:
    await call(running, "create_collection", name="years")
    for year in (2019, 2021, 2023):
        for n in range(3):
            metadata = {"year": year, "kind": "report" if n else "memo"}
            await call(running, "ingest", collection="years", text=f"{GENERIC[n]} Report {year}.",
                       source_uri=f"{year}-{n}", metadata=metadata)  # fmt: skip
    wanted = [{"field": "year", "op": "gte", "value": 2021}, {"field": "kind", "op": "in", "value": ["report"]}]
    for mode in ("hybrid", "vector", "keyword"):
        found = await call(running, "search", collection="years", query="warranty report", k=20, mode=mode,
                           filters=wanted)  # fmt: skip
        assert sorted(sources(found)) == ["2021-1", "2021-2", "2023-1", "2023-2"], mode
    older_memos = [{"field": "kind", "value": "memo"}, {"field": "year", "op": "lt", "value": 2021}]
    memo = await call(running, "search", collection="years", query="warranty", k=20, filters=older_memos)
    assert sources(memo) == ["2019-0"]
    wrong = await call(
        running, "search", collection="years", query="x", filters=[{"field": "year", "op": "gte", "value": "2020"}]
    )
    assert wrong.is_error and "holds number values" in text(wrong)
    # NUL was PostgreSQL's DataError and a control character Milvus's escape error: internal errors.
    for condition in ({"field": "kind", "value": "memo\x00"}, {"field": "kind", "op": "in", "value": ["a", "\x1b"]}):
        controlled = await call(running, "search", collection="years", query="x", filters=[condition])
        assert controlled.is_error and "may not contain control characters" in text(controlled), text(controlled)


async def test_users_see_only_their_own_collections(running: RunningHost) -> None:
    await collection_with(running, "private", user="carol", secret="Carol's plans for the merger.")
    await collection_with(running, "private", user="dave", other="Dave's plans for lunch.")
    theirs = await call(running, "search", user="erin", collection="private", query="merger")
    listed = await call(running, "list_collections", user="erin")
    carol = await call(running, "search", user="carol", collection="private", query="plans")
    dave = await call(running, "search", user="dave", collection="private", query="plans")
    assert theirs.is_error and "No collection 'private'" in text(theirs)
    assert "private" not in [c["name"] for c in listed.structured_content["collections"]]
    assert sources(carol) == ["secret"] and sources(dave) == ["other"]


async def test_reingest_is_idempotent_and_replaces_changed_content(running: RunningHost) -> None:
    await call(running, "create_collection", name="versions")
    first = await call(running, "ingest", collection="versions", text=GENERIC[0], source_uri="v")
    same = await call(running, "ingest", collection="versions", text=GENERIC[0], source_uri="v")
    changed = await call(running, "ingest", collection="versions", text=NEEDLE, source_uri="v")
    statuses = [r.structured_content["status"] for r in (first, same, changed)]
    assert statuses == ["created", "unchanged", "replaced"]
    assert len({r.structured_content["document_id"] for r in (first, same, changed)}) == 1
    docs = (await call(running, "list_documents", collection="versions")).structured_content["documents"]
    assert len(docs) == 1 and docs[0]["chunks"] == 1
    whole = await call(running, "get_document", collection="versions", document_id=docs[0]["id"])
    assert text(whole) == NEEDLE
    found = await call(running, "search", collection="versions", query="warranty kitchens", k=10, mode="keyword")
    assert [p["text"] for p in found.structured_content["passages"]] == []  # the old chunks are gone


async def test_a_failed_write_leaves_the_stored_document_as_it_was(running: RunningHost) -> None:
    """A chunk that cannot be stored (here: a vector of the wrong dimension) fails the whole ingest:
    a new document is not there, a stored one keeps its text."""
    await call(running, "create_collection", name="atomic")
    await call(running, "ingest", collection="atomic", text=NEEDLE, source_uri="kept")
    (runtime,) = running.host.runtimes
    store = runtime.state.store
    (collection,) = [c for c in await store.collections(["user:alice"]) if c.name == "atomic"]
    chunks = chunk_text("One sentence. " * 100, max_tokens=20, overlap_tokens=0)
    vectors = [[0.1] * collection.dimension for _ in chunks]
    vectors[-1] = [0.1] * 7
    for source in ("broken", "kept"):
        with pytest.raises(Exception, match="dimension"):
            await store.ingest(collection, source_uri=source, title=None, content_hash="h", metadata={},
                               chunks=chunks, vectors=vectors)  # fmt: skip
    (kept,) = await store.documents(collection, limit=10, offset=0)
    assert kept.source_uri == "kept"
    found = await call(running, "search", collection="atomic", query="one sentence", k=10)
    assert sources(found) == ["kept"]


async def test_a_cancelled_ingest_leaves_no_document(running: RunningHost) -> None:
    await call(running, "create_collection", name="cancelled")
    with anyio.move_on_after(1.0):
        await call(running, "ingest", collection="cancelled", text="\n\n".join(GENERIC * 60), source_uri="long")
    await anyio.sleep(1.0)
    docs = (await call(running, "list_documents", collection="cancelled")).structured_content["documents"]
    assert docs == []
    found = await call(running, "search", collection="cancelled", query="widget warranty", k=10)
    assert sources(found) == []


async def test_delete_removes_the_document_and_its_passages(running: RunningHost) -> None:
    await collection_with(running, "deleting", gone=NEEDLE, stays=GENERIC[0])
    docs = (await call(running, "list_documents", collection="deleting")).structured_content["documents"]
    gone = next(d["id"] for d in docs if d["source_uri"] == "gone")
    deleted = await call(running, "delete_document", collection="deleting", document_id=gone)
    again = await call(running, "delete_document", collection="deleting", document_id=gone)
    read = await call(running, "get_document", collection="deleting", document_id=gone)
    assert not deleted.is_error and again.is_error and read.is_error and f"No document {gone}" in text(read)
    found = await call(running, "search", collection="deleting", query="error E4711 display", k=10)
    assert sources(found) == ["stays"]
    other = await call(running, "delete_document", user="mallory", collection="deleting", document_id=gone)
    assert other.is_error and "No collection 'deleting'" in text(other)
