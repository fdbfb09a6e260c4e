"""Retrieval with vLLM serving the embeddings: the vectors agree with the local backend's, and
ingest and search work end to end through the OpenAI-compatible client."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vllm_server import VllmServer
from toolpark.clients import api_client
from toolpark.contract.errors import ToolError
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder, OpenAIEmbedder
from toolpark.operations.embedded import postgres
from toolpark.testing import RunningHost, http_client, serve_http

pytestmark = [pytest.mark.vllm, pytest.mark.anyio]

TEXTS = [
    "experimental investigation of the aerodynamics of a wing in a slipstream .",
    "The pump stops with error E4711 when the bearing overheats; let it cool for 30 minutes.",
    "Die Pumpe meldet E4711, wenn das Lager überhitzt.",
    "a",
    "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft "
    * 12,  # several hundred tokens: truncation must match too
    "Naïve café façade — 東京 — emoji 🚀 and math ∑ x²",
]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_vllm_vectors_agree_with_the_local_backend(vllm_embeddings: VllmServer) -> None:
    local = await LocalEmbedder().embed(TEXTS)
    async with api_client(vllm_embeddings.url, timeout_s=120) as client:
        embedder = OpenAIEmbedder(client, model=vllm_embeddings.model, batch_size=4)
        remote = await embedder.embed(TEXTS)
    assert embedder.dimension == 384 and len(remote) == len(TEXTS)
    similarities = [cosine(a, b) for a, b in zip(local, remote, strict=True)]
    assert min(similarities) >= 0.99, similarities


@pytest.fixture(scope="module")
def running(vllm_embeddings: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    settings = {
        "embedding_url": vllm_embeddings.url,
        "embedding_model": vllm_embeddings.model,
        "embedding_truncate": True,
    }
    with (
        postgres(tmp_path_factory.mktemp("pg")) as database,
        serve_http(retrieval, settings={"retrieval": {"database_url": database.url, **settings}}) as host,
    ):
        yield host


async def call(running: RunningHost, tool: str, **arguments: Any) -> Any:
    async with http_client(running.url("retrieval")) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def test_ingest_and_search_with_vllm_embeddings(running: RunningHost) -> None:
    await call(running, "create_collection", name="manuals")
    handbook = Path(__file__).read_text(encoding="utf-8")  # noqa: ASYNC240 - a small local file
    await call(running, "ingest", collection="manuals", text=handbook, source_uri="tests.py")
    await call(running, "ingest", collection="manuals", text=" ".join(TEXTS[:3]), source_uri="pump.txt")
    found = await call(running, "search", collection="manuals", query="why does the pump stop?", mode="vector", k=2)
    assert found["passages"][0]["citation"]["source_uri"] == "pump.txt"


async def test_over_long_inputs_are_refused_clearly_or_cut_like_the_local_model(vllm_embeddings: VllmServer) -> None:
    long_text = " ".join(f"token{n}" for n in range(400))  # well past MiniLM's 256-token window
    async with api_client(vllm_embeddings.url, timeout_s=120) as client:
        with pytest.raises(ToolError, match="maximum context length is 256"):
            await OpenAIEmbedder(client, model=vllm_embeddings.model).embed([long_text, "short"])
        (cut,) = await OpenAIEmbedder(client, model=vllm_embeddings.model, truncate=True).embed([long_text])
    (local,) = await LocalEmbedder().embed([long_text])  # sentence-transformers cuts at 256 too
    assert cosine(cut, local) >= 0.99
