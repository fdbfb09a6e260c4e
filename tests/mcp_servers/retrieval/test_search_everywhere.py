"""`search` without a collection: every collection the caller may read, as one ranking. A model
asked "what does our travel policy say about trains?" had to list the collections and guess, and
to search each in turn; small models failed there most."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mcp_servers.retrieval.calls import FRONTEND, FRONTEND_KEYS, GENERIC, call, text
from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.chunking import Chunk
from toolpark.mcp_servers.retrieval.stores.opening import open_store
from toolpark.mcp_servers.retrieval.stores.protocol import collection_named
from toolpark.testing import RunningHost, http_client, serve_http

pytestmark = pytest.mark.anyio

TRAINS = "Travel policy: trains are preferred over flights for trips under 600 km; book second class."
BOBS = "Bob's private note: the trains to the coast are cheaper on Tuesdays."


@pytest.fixture(scope="module")
def running(database: str) -> Iterator[RunningHost]:
    """Staff read the shared namespace `handbook`; editors write it."""
    tenancy = {"readers": {"staff": ["handbook"]}, "writers": {"editor": ["handbook"]}}
    with serve_http(retrieval, settings={"database_url": database}, auth=FRONTEND_KEYS, tenancy=tenancy) as host:
        yield host


async def add(
    running: RunningHost, user: str, roles: str, collection: str, namespace: str | None, **texts: str
) -> None:
    made = await call(running, "create_collection", user=user, roles=roles, name=collection,
                      **({"namespace": namespace} if namespace else {}))  # fmt: skip
    assert not made.is_error, text(made)
    for source, body in texts.items():
        added = await call(running, "ingest", user=user, roles=roles, collection=collection, text=body,
                           source_uri=source, title=source)  # fmt: skip
        assert not added.is_error, text(added)


async def test_search_without_a_collection_reads_all_the_caller_may_and_nothing_else(running: RunningHost) -> None:
    await add(running, "ed", "editor", "policies", "handbook", travel=TRAINS)
    await add(running, "alice", "staff", "notes", None, **{f"widget-{n}": body for n, body in enumerate(GENERIC[:5])})
    await add(running, "bob", "", "bobs-notes", None, coast=BOBS)

    found = await call(running, "search", user="alice", roles="staff", query="may I take the train?", k=3)
    assert not found.is_error, text(found)
    passages = found.structured_content["passages"]
    assert passages[0]["collection"] == "policies" and "second class" in passages[0]["text"]
    assert {p["collection"] for p in passages} <= {"policies", "notes"}  # bob's is not hers to read
    assert "(collection policies, document" in text(found)
    assert [p["citation"]["score"] for p in passages] == sorted(
        (p["citation"]["score"] for p in passages), reverse=True
    )

    bobs = await call(running, "search", user="bob", query="may I take the train?", k=3)
    assert {p["collection"] for p in bobs.structured_content["passages"]} == {"bobs-notes"}  # not in handbook

    named = await call(running, "search", user="alice", roles="staff", query="train", collection="notes", k=3)
    assert {p["collection"] for p in named.structured_content["passages"]} == {"notes"}

    nothing = await call(running, "search", user="mallory", query="train")
    assert nothing.is_error and "no collection to search yet" in text(nothing)


async def test_a_collection_of_another_embedding_model_is_named_or_passed_over(
    running: RunningHost, database: str
) -> None:
    """Its vectors do not compare with the query's: a search naming it says so; a search naming none
    passes it over, and says what is left when nothing is (keyword search compares no vectors)."""
    async with open_store("pgvector", database, None, pool_size=1, timeout_s=30) as store:
        collection = await store.create_collection(namespace="user:carol", name="old", model="bge-m3",
                                                   dimension=1024, language="english", description="")  # fmt: skip
        chunk = Chunk(text=TRAINS, page=None, char_start=0, char_end=len(TRAINS), headings=())
        await store.ingest(collection, source_uri="travel", title="travel", content_hash="1", metadata={},
                           chunks=[chunk], vectors=[[0.03] * 1024])  # fmt: skip
    named = await call(running, "search", user="carol", query="trains", collection="old")
    assert named.is_error and "was embedded with 'bge-m3'" in text(named) and "unlike vectors" in text(named)
    unnamed = await call(running, "search", user="carol", query="trains")
    assert unnamed.is_error and "None of your collections is embedded with this server's model" in text(unnamed)
    keyword = await call(running, "search", user="carol", query="trains", mode="keyword")
    assert not keyword.is_error and "second class" in text(keyword), text(keyword)


async def test_same_named_collections_are_told_apart_by_namespace(running: RunningHost) -> None:
    """Alice's own `travel` and the handbook's: a search of everything labels the shared one
    `handbook/travel`, the tools' enum offers both names, and that name reads it; the bare name is
    her own; Bob, who may not read the handbook, cannot name it either way."""
    await add(running, "ed", "editor", "travel", "handbook", rules=TRAINS)
    await add(running, "alice", "staff", "travel", None, mine="Alice's note: trains to the coast leave hourly.")
    found = await call(running, "search", user="alice", roles="staff", query="trains", k=10)
    passages = found.structured_content["passages"]
    assert {"travel", "handbook/travel"} <= {p["collection"] for p in passages}, passages
    shared = next(p for p in passages if p["collection"] == "handbook/travel")
    assert shared["text"] == TRAINS and "(collection handbook/travel, document" in text(found)
    document = {"collection": "handbook/travel", "document_id": shared["citation"]["document_id"]}
    read = await call(running, "get_document", user="alice", roles="staff", **document)
    assert not read.is_error and "second class" in text(read)
    own = await call(running, "search", user="alice", roles="staff", query="trains", collection="travel")
    assert {p["citation"]["source_uri"] for p in own.structured_content["passages"]} == {"mine"}
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": "alice", "X-User-Roles": "staff"}
    async with http_client(running.url("retrieval"), headers=headers) as client:
        (search,) = [t for t in (await client.list_tools()).tools if t.name == "search"]
    offered = search.input_schema["properties"]["collection"]["enum"]
    assert {"travel", "handbook/travel", "policies"} <= set(offered), offered
    for name in ("handbook/travel", "travel"):
        refused = await call(running, "get_document", user="bob", collection=name, document_id=document["document_id"])
        assert refused.is_error and f"No collection {name!r} that you may read" in text(refused)


async def test_a_bare_name_several_shared_collections_have_is_refused_with_their_names(database: str) -> None:
    async with open_store("pgvector", database, None, pool_size=1, timeout_s=30) as store:
        for namespace in ("legal", "sales"):
            await store.create_collection(namespace=namespace, name="contracts", model="m", dimension=3,
                                          language="english", description="")  # fmt: skip
        with pytest.raises(ToolError) as refused:
            await collection_named(store, ["user:zoe", "legal", "sales"], "contracts")
        chosen = await collection_named(store, ["user:zoe", "legal", "sales"], "sales/contracts")
        with pytest.raises(ToolError, match="No collection 'sales/contracts'"):
            await collection_named(store, ["user:yan", "legal"], "sales/contracts")  # not a namespace of his
    assert "(legal/contracts, sales/contracts): name one of them so" in str(refused.value)
    assert chosen.namespace == "sales"
