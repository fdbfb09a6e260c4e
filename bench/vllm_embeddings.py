"""Embedding throughput through our client (retrieval's OpenAIEmbedder: batches of 64, four in
flight) against direct HTTP calls to the same vLLM in the same run: plain httpx posting the same
batches one after another, and four at a time. Texts: the Cranfield abstracts, chunked as ingest
chunks them. Target: ours >= 0.95x the faster direct way.

    .venv/bin/python -m bench.vllm_embeddings [--data ../shared/data] [--url http://host:port/v1 --model NAME]

Without --url it starts the CPU vLLM the tests use (scripts/vllm-env) with the MiniLM model.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import anyio
import httpx

from tests.vllm_server import prepare, vllm_server
from toolpark.clients import api_client
from toolpark.mcp_servers.retrieval.chunking import chunk_text
from toolpark.mcp_servers.retrieval.embeddings import OpenAIEmbedder

BATCH, CONCURRENCY = 64, 4


def chunks(data: Path) -> list[str]:
    text = (data / "cranfield" / "cran.all.1400").read_text(errors="replace")
    abstracts = [part.split(".W", 1)[1] for part in text.split("\n.I ") if ".W" in part]
    return [c.text for a in abstracts for c in chunk_text(a, max_tokens=200, overlap_tokens=40)]


async def direct(url: str, model: str, texts: list[str], concurrency: int) -> None:
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    limit = anyio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url.rstrip("/") + "/", timeout=120) as client:

        async def one(batch: list[str]) -> None:
            async with limit:
                body = {"model": model, "input": batch, "truncate_prompt_tokens": -1}
                response = await client.post("embeddings", json=body)
                response.raise_for_status()
                assert len(response.json()["data"]) == len(batch)

        async with anyio.create_task_group() as group:
            for batch in batches:
                group.start_soon(one, batch)


async def ours(url: str, model: str, texts: list[str]) -> None:
    async with api_client(url, timeout_s=120) as client:
        vectors = await OpenAIEmbedder(
            client, model=model, batch_size=BATCH, concurrency=CONCURRENCY, truncate=True
        ).embed(texts)
    assert len(vectors) == len(texts)


async def measure(url: str, model: str, texts: list[str], rounds: int) -> None:
    ways: dict[str, Callable[[], Awaitable[None]]] = {
        "toolpark OpenAIEmbedder": lambda: ours(url, model, texts),
        "direct httpx, sequential": lambda: direct(url, model, texts, 1),
        f"direct httpx, {CONCURRENCY} in flight": lambda: direct(url, model, texts, CONCURRENCY),
    }
    await ways["direct httpx, sequential"]()  # warm-up
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for round_number in range(rounds):
        order = list(ways) if round_number % 2 == 0 else list(reversed(ways))
        for name in order:
            started = time.perf_counter()
            await ways[name]()
            timings[name].append(time.perf_counter() - started)
    rates = {name: len(texts) / statistics.median(t) for name, t in timings.items()}
    best_direct = max(rate for name, rate in rates.items() if name.startswith("direct"))
    print(f"{len(texts)} chunks, {rounds} rounds, median per way\n")
    print(f"| {'way':<28} | {'chunks/s':>9} | {'vs best direct':>14} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 16}|")
    for name, rate in rates.items():
        print(f"| {name:<28} | {rate:9.1f} | {rate / best_direct:13.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--url", help="An OpenAI-compatible embeddings base URL (…/v1); default: start vLLM.")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=400, help="Chunks each way embeds per round.")
    args = parser.parse_args()
    texts = chunks(args.data)[: args.limit]
    with ExitStack() as stack:
        url = args.url
        if url is None:
            env = prepare()
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "vllm.log"
            server = stack.enter_context(
                vllm_server(env, env.embedding_model, args.model, "--runner", "pooling", log=log)
            )
            url = server.url
        anyio.run(measure, url, args.model, texts, args.rounds)


if __name__ == "__main__":
    main()
