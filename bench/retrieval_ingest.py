"""Ingest throughput: chunks/s of the whole `ingest` tool (chunking, embedding, one transaction of
inserts, term statistics) against the raw embedder's chunks/s on the same chunk texts, same run.

Texts: the GeoTopo book's ground-truth text and the Cranfield abstracts joined into one document,
from `<data>`. Target: ingest >= 80% of the raw embedder.

    .venv/bin/python bench/retrieval_ingest.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio

from toolpark.mcp_servers.retrieval import plugin
from toolpark.mcp_servers.retrieval.chunking import chunk_text
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.operations.embedded import postgres
from toolpark.testing import connect

ROOT = Path(__file__).resolve().parent.parent


async def run(data: Path) -> None:
    texts = {
        "geotopo": (data / "pdfs" / "GeoTopo-komprimiert.gt.txt").read_text(),
        "cranfield": (data / "cranfield" / "cran.all.1400").read_text(errors="replace"),
    }
    with tempfile.TemporaryDirectory() as directory, postgres(Path(directory)) as database:
        async with connect(plugin, settings={"database_url": database.url}) as client:
            await client.call_tool("create_collection", {"name": "throughput"})
            rows = []
            for name, text in texts.items():
                chunks = chunk_text(text, max_tokens=200, overlap_tokens=40)
                started = time.perf_counter()
                done = await client.call_tool("ingest", {"collection": "throughput", "text": text, "source_uri": name})
                ingest_s = time.perf_counter() - started
                assert not done.is_error and done.structured_content is not None
                assert done.structured_content["chunks"] == len(chunks)
                rows.append((name, len(chunks), ingest_s))
        embedder = await anyio.to_thread.run_sync(LocalEmbedder)
        raw = []
        for text in texts.values():
            chunks = chunk_text(text, max_tokens=200, overlap_tokens=40)
            inputs = [" ".join((*c.headings, c.text)) for c in chunks]
            started = time.perf_counter()
            for start in range(0, len(inputs), 256):
                await embedder.embed(inputs[start : start + 256])
            raw.append(time.perf_counter() - started)

    print("\n| text | chunks | ingest chunks/s | raw embedder chunks/s | ratio |")
    print("|---|---|---|---|---|")
    for (name, count, ingest_s), raw_s in zip(rows, raw, strict=True):
        print(f"| {name} | {count} | {count / ingest_s:.0f} | {count / raw_s:.0f} | {raw_s / ingest_s:.2f} |")
    total_ingest = sum(r[2] for r in rows)
    print(f"\nall: ingest at {sum(raw) / total_ingest:.0%} of the raw embedder's rate (target >= 80%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    anyio.run(run, args.data)


if __name__ == "__main__":
    main()
