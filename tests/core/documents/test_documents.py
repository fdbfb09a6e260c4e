"""The host's document parser: one pool of worker processes for every server in the host, with
the OCR options of the `[documents]` section."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from toolpark import Plugin, ToolContext
from toolpark.mcp_servers.extract import plugin as extract
from toolpark.testing import http_client, serve_http

pytestmark = pytest.mark.anyio

PDF = Path(__file__).resolve().parents[2] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"

pages = Plugin("pages", version="1", description="Counts a PDF's pages through the host's parser.")


@pages.tool(read_only=True)
async def count_pages(ctx: ToolContext[object, None], data_base64: str) -> int:
    """Pages in a PDF."""
    return int((await ctx.documents.facts(base64.b64decode(data_base64)))["pages"])


async def test_servers_in_one_host_share_one_parser_pool() -> None:
    data = base64.b64encode(PDF.read_bytes()).decode()
    with serve_http([extract, pages], documents={"workers": 1, "ocr_languages": "eng"}) as running:
        documents = running.host.services.documents
        assert documents.workers is None  # started on first use, not with the host
        async with http_client(running.url("extract")) as client:
            info = await client.call_tool("document_info", {"data_base64": data})
        async with http_client(running.url("pages")) as client:
            counted = await client.call_tool("count_pages", {"data_base64": data})
        assert info.structured_content["pages"] == 4 and counted.structured_content == {"result": 4}
        workers = documents.workers
        assert workers is not None and workers.jobs == 2  # both servers' jobs went to the one pool
        assert documents.ocr.languages == "eng"
    assert documents.workers is None  # stopped with the host
