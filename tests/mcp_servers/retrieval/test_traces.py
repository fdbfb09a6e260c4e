"""Traces of a real `toolpark serve retrieval` process, exported over OTLP/HTTP to a receiver the
test runs (tests/otlp.py): one `search` shows the request span, the tool span, the model and the
database spans, in the client's trace; a trace context sent as an HTTP header is honoured too."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp import Receiver, otlp_receiver, spans_of, under
from tests.processes import spawn, wait_ok
from toolpark.clients import http_client
from toolpark.mcp_servers.retrieval.embeddings import LOCAL_MODEL as MODEL
from toolpark.operations.embedded import free_ports, postgres, stop_process

pytestmark = pytest.mark.anyio

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    with postgres(tmp_path / "pg") as database, otlp_receiver() as receiver:
        (port,) = free_ports(1)
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second
            "TOOLPARK_RETRIEVAL_DATABASE_URL": database.url,
            "TOOLPARK_DATA_DIR": str(tmp_path / "data"),
            "TOOLPARK_LOG_FORMAT": "text",
        }
        command = [sys.executable, "-m", "toolpark", "serve", "retrieval", "--transport", "http", "--port", str(port)]
        process = spawn(command, tmp_path / "serve.log", env, tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ok(f"{base}/readyz", process, tmp_path / "serve.log")
            yield f"{base}/retrieval/mcp", receiver
        finally:
            stop_process(process, grace_s=30)


async def test_a_search_is_traced_from_the_clients_span_to_the_database(traced: tuple[str, Receiver]) -> None:
    url, receiver = traced
    async with http_client(url) as client:
        created = await client.call_tool("create_collection", {"name": "manuals"})
        assert not created.is_error, created
        text = "If the display shows error E4711, the widget motor has overheated and needs a pause."
        added = await client.call_tool("ingest", {"collection": "manuals", "text": text, "source_uri": "e4711"})
        assert not added.is_error, added
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        context = {"traceparent": f"00-{trace_id}-{parent}-01"}
        found = await client.call_tool("search", {"collection": "manuals", "query": "error E4711"}, meta=context)
    assert not found.is_error and "E4711" in found.content[0].text  # type: ignore[union-attr]

    spans = spans_of(receiver, trace_id, "tools/call search", "execute_tool search", "embeddings " + MODEL)
    (request,) = [s for s in spans if s.name == "tools/call search"]
    assert request.parent_id == parent and request.kind == SERVER  # a child of the client's span
    assert request.attributes["mcp.method.name"] == "tools/call" and request.attributes["gen_ai.tool.name"] == "search"
    (tool,) = [s for s in spans if s.name == "execute_tool search"]
    assert tool.parent_id == request.span_id and tool.attributes["toolpark.outcome"] == "ok"
    database = [s for s in spans if "postgresql" in (s.attributes.get("db.system"), s.attributes.get("db.system.name"))]
    assert database and all(under(s, tool, spans) and s.kind == CLIENT for s in database)
    (model,) = [s for s in spans if s.name.startswith("embeddings ")]
    assert under(model, tool, spans) and model.attributes["gen_ai.operation.name"] == "embeddings"
    assert {s.service for s in spans} == {"toolpark-retrieval"}


async def test_a_trace_context_in_http_headers_is_honoured(traced: tuple[str, Receiver]) -> None:
    url, receiver = traced
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    async with http_client(url, headers={"traceparent": f"00-{trace_id}-{parent}-01"}) as client:
        listed = await client.call_tool("list_collections", {})
    assert not listed.is_error
    spans = spans_of(receiver, trace_id, "tools/call list_collections", "execute_tool list_collections")
    (request,) = [s for s in spans if s.name == "tools/call list_collections"]
    assert request.parent_id == parent
    assert any(s.name == "execute_tool list_collections" and s.parent_id == request.span_id for s in spans)
