"""extract's describe against a real vLLM: the request travels the whole way and vLLM reads all of
it, image part included. SmolLM2 has no vision, so vLLM answers that it is not a multimodal model,
which it says only after parsing the request; a malformed image part is refused earlier, by its
request validation, as the second half shows. Vision models that work here: Qwen2.5-VL (3B/7B),
Qwen2-VL, LLaVA-OneVision, Gemma 3 (docs/servers/extract.md)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from tests.vllm_server import VllmServer
from toolpark.mcp_servers.extract import plugin as extract
from toolpark.testing import http_client, serve_http

pytestmark = [pytest.mark.vllm, pytest.mark.anyio]

PDF = Path(__file__).resolve().parents[1] / "fixtures" / "pdfs" / "pdflatex-4-pages.pdf"


async def test_describe_round_trip_reaches_the_model_stage(vllm_chat: VllmServer) -> None:
    settings = {"vision_url": vllm_chat.url, "vision_model": vllm_chat.model}
    data = base64.b64encode(PDF.read_bytes()).decode()
    with serve_http(extract, settings={"extract": settings}, documents={"workers": 1}) as host:
        async with http_client(host.url("extract")) as client:
            result = await client.call_tool("describe", {"data_base64": data, "page": 2, "prompt": "What is this?"})
    assert result.is_error
    message = result.content[0].text  # type: ignore[union-attr]
    assert message == "The vision endpoint refused the request: HTTP 400: smollm2 is not a multimodal model"


async def test_vllm_refuses_a_malformed_image_part_earlier(vllm_chat: VllmServer) -> None:
    request = {
        "model": vllm_chat.model,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"uri": "data:,"}}]}],
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{vllm_chat.url}/chat/completions", json=request)
    assert response.status_code == 400 and "image_url.url" in response.json()["error"]["message"]
