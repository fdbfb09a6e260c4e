"""While the GPU node is away, retrieval embeds with its stand-in and asks the endpoint again only
after a pause, one caller at a time and once (no retries): under load, no search waits out the
retries that a reachable endpoint's passing failure gets."""

from __future__ import annotations

import anyio
import httpx

from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder, OpenAIEmbedder, WhileAway


async def _asked() -> tuple[list[int], int]:
    attempts: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("connection refused (the node is off)", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse), base_url="http://gpu-node/v1/") as client:
        endpoint = OpenAIEmbedder(client, model="minilm", retries=2)
        embedder = WhileAway(endpoint, fallback=lambda: anyio.to_thread.run_sync(LocalEmbedder), pause_s=3)
        asked = []
        await embedder.embed(["the first search finds the node gone"])
        asked.append(len(attempts))  # the endpoint's own retries: it might have been a passing failure
        for _ in range(3):  # within the pause: the stand-in alone
            await embedder.embed(["lighthouse"])
        asked.append(len(attempts))
        await anyio.sleep(3.1)
        async with anyio.create_task_group() as searches:  # after it, ten at once: one asks, once
            for n in range(10):
                searches.start_soon(embedder.embed, [f"search {n}"])
        asked.append(len(attempts))
        vectors = await embedder.embed(["keepers"])
    return asked, len(vectors[0])


def test_an_away_endpoint_is_asked_again_by_one_search_once_per_pause() -> None:
    asked, dimension = anyio.run(_asked)
    assert asked == [3, 3, 4], asked
    assert dimension == 384
