"""The retrieval server against the embedded PostgreSQL with pgvector and the local MiniLM model,
through the real HTTP host."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pypdfium2 as pdfium
import pytest

from tests.mcp_servers.retrieval.calls import FRONTEND, FRONTEND_KEYS, GENERIC, NEEDLE, call, collection_with, text
from tests.nodejs import run_node
from tests.webhost import in_background, respond, web_host
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.operations.embedded import postgres
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, connect, http_client, serve_http

pytestmark = pytest.mark.anyio
OPEN_WEBUI_KEY = {"name": "openwebui", "hash": hash_key("tpk_openwebui"), "trusted_frontend": True}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    with (
        postgres(tmp_path_factory.mktemp("pg")) as database,
        serve_http(
            retrieval,
            # task_after_s 0: an ingest by a client that takes tasks is one from the start
            settings={
                "retrieval": {"database_url": database.url, "chunk_tokens": 60, "chunk_overlap": 10, "task_after_s": 0}
            },
            # LibreChat's key shows ui:// resources; Open WebUI's does not.
            auth={"api_keys": [*FRONTEND_KEYS["api_keys"], OPEN_WEBUI_KEY], "ui_clients": ["librechat"]},
            egress={"allow": "127.0.0.1"},
        ) as host,
    ):
        yield host


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"query": "   ", "collection": "manuals"}, "The query is empty"),
        ({"query": "x", "collection": "manuals", "k": 500}, "at most 50 passages"),
        ({"query": "x", "collection": "nope"}, "No collection 'nope'"),
        ({"query": "x", "collection": "manuals", "filters": [{"field": "a b", "value": 1}]}, "filters.0.field"),
    ],
)
async def test_bad_search_input_is_a_clear_error(running: RunningHost, arguments: dict[str, Any], message: str) -> None:
    result = await call(running, "search", **arguments)
    assert result.is_error and message in text(result)


async def test_a_huge_text_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with postgres(tmp_path / "pg") as database:
        async with connect(retrieval, settings={"database_url": database.url}) as client:
            await client.call_tool("create_collection", {"name": "big"})
            result = await client.call_tool("ingest", {"collection": "big", "text": "x" * 50_000_000})
            docs = await client.call_tool("list_documents", {"collection": "big"})
    assert result.is_error and "over this server's limit" in result.content[0].text  # type: ignore[union-attr]
    assert docs.structured_content == {"documents": []}


async def test_urls_of_html_and_pdf_are_ingested_with_pages(running: RunningHost) -> None:
    paper = (Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf").read_bytes()  # noqa: ASYNC240
    page = "<html><body><nav>Menu Home About</nav><article><h1>Pumps</h1><p>" + NEEDLE + "</p></article></body></html>"
    with web_host("site") as site:
        site.pages["/paper.pdf"] = (200, {"Content-Type": "application/pdf"}, paper)
        site.pages["/pumps"] = (200, {"Content-Type": "text/html"}, page.encode())
        await call(running, "create_collection", name="fetched")
        pdf = await call(running, "ingest", collection="fetched", url=f"{site.url}/paper.pdf")
        html = await call(running, "ingest", collection="fetched", url=f"{site.url}/pumps")
    assert not pdf.is_error and not html.is_error, text(pdf) + text(html)
    found = await call(running, "search", collection="fetched", query="selected font letters alphabet", k=3)
    assert found.structured_content["passages"][0]["citation"]["page"] in (3, 4)
    overheated = await call(running, "search", collection="fetched", query="E4711 overheated", mode="keyword")
    top = overheated.structured_content["passages"][0]
    assert NEEDLE in top["text"] and "Menu Home" not in top["text"] and top["citation"]["page"] is None


async def test_uploaded_files_are_ingested(running: RunningHost) -> None:
    import base64

    paper = (Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-outline.pdf").read_bytes()  # noqa: ASYNC240
    await call(running, "create_collection", name="uploads")
    added = await call(running, "ingest", collection="uploads", data_base64=base64.b64encode(paper).decode(),
                       content_type="application/pdf", source_uri="outline.pdf")  # fmt: skip
    both = await call(running, "ingest", collection="uploads", text="x", url="http://example.org/")
    image = await call(running, "ingest", collection="uploads", data_base64=base64.b64encode(b"\x89PNG....").decode(),
                       content_type="image/png", source_uri="pixel.png")  # fmt: skip
    assert not added.is_error and added.structured_content["chunks"] >= 3
    assert both.is_error and "exactly one of text, url or data_base64" in text(both)
    assert image.is_error and "image/png; ingest takes text, HTML and PDF" in text(image)


LIGHTHOUSE = "Lighthouse keepers trim the lamp wick at dusk and log the weather every four hours."


async def test_a_batch_of_documents_is_stored_each_on_its_own(running: RunningHost) -> None:
    """`ingest_documents` embeds a call's documents together but stores each alone: the failed ones
    are reported in their places and write nothing, each stored one finds its own text, and the
    same call again finds the stored ones unchanged."""
    documents = [
        {"text": NEEDLE, "source_uri": "needle.txt", "title": "Error codes"},
        {"text": "   ", "source_uri": "blank.txt"},
        {"text": GENERIC[2], "source_uri": "widget.txt", "metadata": {"year": 2020}},
        {"text": "x", "url": "http://example.org/", "source_uri": "both"},
        {"data_base64": base64.b64encode(b"\x89PNG").decode(), "content_type": "image/png", "source_uri": "pixel.png"},
        {"text": LIGHTHOUSE, "source_uri": "lighthouse.txt"},
    ]
    await call(running, "create_collection", name="batch")
    first = await call(running, "ingest_documents", collection="batch", documents=documents)
    again = await call(running, "ingest_documents", collection="batch", documents=documents)
    listed = await call(running, "list_documents", collection="batch")
    tops = {
        source: (await call(running, "search", collection="batch", query=body, mode="vector", k=1)).structured_content[
            "passages"
        ][0]["citation"]["source_uri"]
        for source, body in [("needle.txt", NEEDLE), ("widget.txt", GENERIC[2]), ("lighthouse.txt", LIGHTHOUSE)]
    }
    assert not first.is_error, text(first)
    outcomes = first.structured_content["documents"]
    assert [(o["source_uri"], o["status"]) for o in outcomes] == [
        ("needle.txt", "created"), ("blank.txt", "failed"), ("widget.txt", "created"), ("both", "failed"),
        ("pixel.png", "failed"), ("lighthouse.txt", "created"),
    ]  # fmt: skip
    assert "The text is empty" in outcomes[1]["error"] and "exactly one of text, url" in outcomes[3]["error"]
    assert "image/png; ingest takes text, HTML and PDF" in outcomes[4]["error"]
    assert all(o["chunks"] >= 1 for o in outcomes if o["status"] == "created")
    assert [o["status"] for o in again.structured_content["documents"]] == [
        "unchanged", "failed", "unchanged", "failed", "failed", "unchanged"
    ]  # fmt: skip
    stored = {d["source_uri"]: d for d in listed.structured_content["documents"]}
    assert set(stored) == {"needle.txt", "widget.txt", "lighthouse.txt"}  # nothing of the failed ones
    assert stored["widget.txt"]["metadata"] == {"year": 2020} and stored["needle.txt"]["title"] == "Error codes"
    assert tops == {source: source for source in tops}  # each document's chunks carry its own vectors


async def test_a_batch_holds_at_most_one_documents_worth_of_text(tmp_path: Path) -> None:
    documents = [{"text": f"{body} " * 3, "source_uri": f"n{n}"} for n, body in enumerate(GENERIC[:3])]
    limit = len(documents[0]["text"]) * 2 + 10  # room for two of the three
    with postgres(tmp_path / "pg") as database:
        settings = {"database_url": database.url, "max_ingest_chars": limit}
        async with connect(retrieval, settings=settings) as client:
            await client.call_tool("create_collection", {"name": "capped"})
            result = await client.call_tool("ingest_documents", {"collection": "capped", "documents": documents})
            many = await client.call_tool("ingest_documents", {"collection": "capped", "documents": documents * 22})
    assert result.structured_content is not None
    outcomes = result.structured_content["documents"]
    assert [o["status"] for o in outcomes] == ["created", "created", "failed"]
    assert f"at most {limit} characters together" in outcomes[2]["error"]
    assert many.is_error and "documents" in many.content[0].text  # type: ignore[union-attr]


def test_toolpark_ingest_adds_a_folder_and_resumes(tmp_path: Path) -> None:
    """The CLI ingests a folder's text, HTML and PDF files through a running server with an API key;
    running it again finds everything unchanged, and a wrong key is a clear error."""
    from click.testing import CliRunner

    from toolpark.devtools.cli import main

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.md").write_text("# Guide\n\n" + NEEDLE)
    (folder / "sub" / "page.html").write_text(f"<html><body><article><p>{GENERIC[1]}</p></article></body></html>")
    (folder / "sub" / "paper.pdf").write_bytes(
        (Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf").read_bytes()
    )
    (folder / "image.png").write_bytes(b"\x89PNG")  # not a document type: left out of a folder
    with postgres(tmp_path / "pg") as database, serve_http(
        retrieval,
        settings={"retrieval": {"database_url": database.url}},
        auth={"api_keys": [{"name": "loader", "hash": hash_key("tpk_loader"), "scopes": ["librarian"]}]},
    ) as host:  # fmt: skip
        runner = CliRunner()
        arguments = ["ingest", str(folder), "--collection", "handbook", "--create", "--url", host.url("retrieval")]
        first = runner.invoke(main, arguments, env={"TOOLPARK_API_KEY": "tpk_loader"})
        again = runner.invoke(main, arguments, env={"TOOLPARK_API_KEY": "tpk_loader"})
        refused = runner.invoke(main, arguments, env={"TOOLPARK_API_KEY": "tpk_wrong"})
    assert first.exit_code == 0, first.output
    assert first.output.strip().endswith("3 created") and again.output.strip().endswith("3 unchanged")
    assert refused.exit_code != 0 and "Error" in refused.output and "Traceback" not in refused.output


def test_reranking_against_a_rerank_endpoint_stand_in(tmp_path: Path) -> None:
    """No rerank model runs in this test's time on the CPU; a local server answers `POST /v1/rerank` in
    vLLM's shape (it prefers passages that mention "E4711"), and the test checks the request and that its
    order wins. The vLLM issue runs the real thing."""
    import json as jsonlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, Any]] = []

    class Rerank(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = jsonlib.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, **body})
            scored = [
                {"index": i, "relevance_score": 0.9 if "E4711" in d else 0.1} for i, d in enumerate(body["documents"])
            ]
            answer = jsonlib.dumps({"results": scored}).encode()
            respond(self, 200, answer, {"Content-Type": "application/json"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Rerank)
    rerank_url = f"http://127.0.0.1:{server.server_address[1]}/v1"

    async def scenario(database_url: str) -> tuple[Any, Any]:
        settings = {"database_url": database_url, "rerank_url": rerank_url, "rerank_model": "bge-reranker"}
        async with connect(retrieval, settings=settings) as client:
            await client.call_tool("create_collection", {"name": "ranked"})
            for n, body in enumerate([*GENERIC[:8], NEEDLE]):
                await client.call_tool("ingest", {"collection": "ranked", "text": body, "source_uri": f"d{n}"})
            reranked = await client.call_tool("search", {"collection": "ranked", "query": "widget warranty", "k": 3})
            plain = await client.call_tool(
                "search", {"collection": "ranked", "query": "widget warranty", "k": 3, "rerank": False}
            )
        return reranked, plain

    with in_background(server), postgres(tmp_path / "pg") as database:
        reranked, plain = anyio.run(scenario, database.url)
    assert NEEDLE in reranked.structured_content["passages"][0]["text"]
    assert reranked.structured_content["passages"][0]["citation"]["score"] == 0.9
    assert NEEDLE not in plain.structured_content["passages"][0]["text"]
    (request,) = seen
    assert request["path"] == "/v1/rerank" and request["model"] == "bge-reranker" and request["top_n"] == 3
    assert request["query"] == "widget warranty" and len(request["documents"]) == 9


async def test_each_caller_is_offered_its_own_collections(running: RunningHost) -> None:
    """A small model picks a collection from an enum instead of inventing a name."""
    await collection_with(running, "erins-notes", user="erin", notes="Erin's notes.")

    async def offered(user: str, tool: str) -> list[str] | None:
        """The enum of the tool's `collection` (search's is optional, published as a plain string all the same)."""
        headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": user}
        async with http_client(running.url("retrieval"), headers=headers) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
        schema = tools[tool].input_schema["properties"].get("collection")
        if schema is None:
            return None
        assert "anyOf" not in schema, schema
        enum: list[str] = schema["enum"]
        return enum

    assert "erins-notes" in (await offered("erin", "search") or [])
    assert "erins-notes" in (await offered("erin", "get_document") or [])
    # Another caller is not shown erin's; with nothing to choose, search's optional parameter goes.
    assert await offered("frank", "search") is None


async def test_filters_and_rerank_are_offered_only_where_they_can_be_used(running: RunningHost) -> None:
    """Measured with SmolLM2-135M: offered `filters` over documents without metadata, it filled twenty
    invented conditions and found nothing; offered `rerank` without a reranker, every call was
    refused. Now a caller is offered the metadata fields its documents have, or no filters at all."""

    async def search_schema(user: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": user}
        async with http_client(running.url("retrieval"), headers=headers) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
        return tools["search"].input_schema

    await collection_with(running, "gwens-notes", user="gwen", notes="Gwen's plain notes.")
    plain = await search_schema("gwen")
    assert "filters" not in plain["properties"] and "rerank" not in plain["properties"]
    assert {"query", "collection"} <= set(plain["properties"])
    await collection_with(running, "hanks-reports", user="hank")
    added = await call(running, "ingest", user="hank", collection="hanks-reports", text="Quarterly report.",
                       source_uri="q3", title="q3", metadata={"year": 2024, "team": "ops"})  # fmt: skip
    assert not added.is_error, text(added)
    with_metadata = await search_schema("hank")
    condition = with_metadata["$defs"]["Condition"]["properties"]["field"]
    assert condition["enum"] == ["team", "year"] and "filters" in with_metadata["properties"]
    assert "filters" not in (await search_schema("gwen"))["properties"]  # hank's fields are not gwen's


SCANNED = Path(__file__).parents[2] / "fixtures" / "pdfs" / "linn.pdf"  # one scanned page: OCR, seconds


def scanned_pages(count: int) -> str:
    """`count` copies of the scanned page as one PDF, base64-encoded."""
    source, pdf = pdfium.PdfDocument(SCANNED), pdfium.PdfDocument.new()
    pdf.import_pages(source, [0] * count)
    buffer = io.BytesIO()
    pdf.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def tasks_client(running: RunningHost, *args: str) -> dict[str, Any]:
    """tests/node/tasks.mjs as alice: tasks through the TypeScript SDK's transport."""
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": "alice"}
    run = run_node("tasks.mjs", running.url("retrieval"), *args, timeout=300, env={"MCP_HEADERS": json.dumps(headers)})
    assert run.returncode == 0, run.stderr
    seen: dict[str, Any] = json.loads(run.stdout)
    return seen


def ingest_task(running: RunningHost, *mode: str, **arguments: Any) -> dict[str, Any]:
    """An ingest as a task: the client that starts it disconnects, another reads it back (or cancels
    it first); with mode `start`, only started."""
    seen = tasks_client(running, "ingest", json.dumps(arguments), *mode)
    assert seen["rounds"] == ["task"] and seen["created"]["taskId"]
    assert mode == ("start",) or seen["unknown"] == -32602  # another id, or another caller's, is unknown
    return seen


def test_an_ingest_task_outlives_its_client(running: RunningHost) -> None:
    anyio.run(collection_with, running, "scans")
    seen = ingest_task(running, collection="scans", data_base64=scanned_pages(1), source_uri="linn.pdf")
    assert seen["final"]["status"] == "completed", seen
    stored = seen["final"]["result"]["structuredContent"]
    assert stored["status"] == "created" and stored["chunks"] > 0
    found = anyio.run(lambda: call(running, "search", query="LinnSequencer", collection="scans"))
    assert "linn.pdf" in text(found)


def test_a_cancelled_ingest_task_frees_its_parser_and_stores_nothing(running: RunningHost) -> None:
    anyio.run(collection_with, running, "cancelled-task")
    pages = scanned_pages(12)  # a minute of OCR: cancelled long before it ends
    started = time.monotonic()
    seen = ingest_task(running, "cancel", collection="cancelled-task", data_base64=pages, source_uri="scan.pdf")
    assert seen["final"]["status"] == "cancelled" and seen["final"]["result"] is None
    workers = running.host.services.documents.workers
    assert workers is not None
    while workers.free < workers.size and time.monotonic() - started < 30:  # the killed worker's slot comes back
        time.sleep(0.2)
    assert workers.free == workers.size and workers.replaced >= 1
    assert time.monotonic() - started < 30
    listed = anyio.run(lambda: call(running, "list_documents", collection="cancelled-task"))
    assert "scan.pdf" not in text(listed)


def test_a_restart_ends_a_running_ingest_task_and_keeps_finished_ones(tmp_path: Path) -> None:
    """With a task ledger, a restarted host still answers for its tasks: a finished one with its
    result, one that was running as failed, saying so. The interrupted ingest stored nothing (one
    transaction), and calling it again stores the document whole."""
    auth = FRONTEND_KEYS
    with postgres(tmp_path / "pg") as database:
        options: dict[str, Any] = {
            "settings": {"retrieval": {"database_url": database.url, "task_after_s": 0}},
            "auth": auth,
            "tasks_path": tmp_path / "tasks.sqlite",
        }
        with serve_http(retrieval, **options) as first:
            anyio.run(collection_with, first, "restart")
            finished = ingest_task(first, collection="restart", data_base64=scanned_pages(1), source_uri="one.pdf")
            assert finished["final"]["status"] == "completed"
            three = scanned_pages(3)
            running = ingest_task(first, "start", collection="restart", data_base64=three, source_uri="3.pdf")
            time.sleep(1)  # into its OCR, then the host stops
        with serve_http(retrieval, **options) as second:
            kept = tasks_client(second, "--get", finished["created"]["taskId"])["final"]
            assert kept == finished["final"]
            stopped = tasks_client(second, "--get", running["created"]["taskId"])["final"]
            assert stopped["status"] == "failed" and "server running this task stopped" in stopped["error"]["message"]
            listed = anyio.run(lambda: call(second, "list_documents", collection="restart"))
            assert "one.pdf" in text(listed) and "3.pdf" not in text(listed)
            again = ingest_task(second, collection="restart", data_base64=three, source_uri="3.pdf")
            assert again["final"]["result"]["structuredContent"]["status"] == "created"


async def test_librechat_gets_a_card_of_the_searched_documents_and_open_webui_none(running: RunningHost) -> None:
    """LibreChat's tool-call panel shows a result's ui:// resources: the card names each document (once
    per page and collection of its passages); Open WebUI would hand the card's HTML to its model."""
    await collection_with(running, "cards", **{"https://example.org/trains": NEEDLE, "handbook.md": GENERIC[0]})
    found = await call(running, "search", query="error E4711 display", collection="cards", k=3)
    (card,) = [b for b in found.content if b.type == "resource"]
    assert str(card.resource.uri).startswith("ui://toolpark/sources/") and card.resource.mime_type == "text/html"
    html = card.resource.text
    assert html.count("https://example.org/trains") == 2 and "collection cards" in html  # the link and its label
    headers = {"Authorization": "Bearer tpk_openwebui", "X-User-ID": "alice"}
    async with http_client(running.url("retrieval"), headers=headers) as client:
        other = await client.call_tool("search", {"query": "error E4711 display", "collection": "cards", "k": 3})
    assert not other.is_error and not any(b.type == "resource" for b in other.content)
