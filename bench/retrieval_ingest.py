"""Ingest throughput against the raw embedder on the same texts, same run, two shapes of input:

- one large document each (the GeoTopo book's ground-truth text; the Cranfield abstracts joined
  into one), through the `ingest` tool: chunks/s, where batching within the document hides any
  per-document cost;
- many small documents: the Cranfield abstracts as one file each, through `toolpark ingest` of
  the folder against a retrieval server of its own (`toolpark serve`, HTTP; its defaults: 64 files
  to an `ingest_documents` call, 4 calls at once): documents/s from the command's start to its
  end, then the same command again, which must find every document unchanged. This is where a
  per-document cost (a call, a transaction, term statistics) shows.

The raw embedder: the local MiniLM encoding each document's chunk texts (as the server chunks
them) in batches of 256, after the server has stopped (for the abstracts the median of three passes).
Target: ingest >= 80% of it on both shapes.

    .venv/bin/python bench/retrieval_ingest.py [--data ../shared/data] [--concurrency 4] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from toolpark.mcp_servers.retrieval import plugin
from toolpark.mcp_servers.retrieval.chunking import chunk_text
from toolpark.mcp_servers.retrieval.declaration import RetrievalSettings
from toolpark.mcp_servers.retrieval.embeddings import LocalEmbedder
from toolpark.mcp_servers.retrieval.ingesting import BATCH_DOCUMENTS
from toolpark.operations.embedded import postgres
from toolpark.testing import connect, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from retrieval_quality import smart
from s3_overhead import wait_ready

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = RetrievalSettings()


def chunk_inputs(text: str) -> list[str]:
    """What the server embeds for a text, with its default chunking."""
    chunks = chunk_text(text, max_tokens=DEFAULTS.chunk_tokens, overlap_tokens=DEFAULTS.chunk_overlap)
    return [" ".join((*c.headings, c.text)) for c in chunks]


async def large_documents(texts: dict[str, str], database_url: str) -> list[tuple[str, int, float]]:
    """(name, chunks, seconds) of each text ingested as one document through the tool."""
    rows = []
    async with connect(plugin, settings={"database_url": database_url}) as client:
        await client.call_tool("create_collection", {"name": "throughput"})
        for name, text in texts.items():
            started = time.perf_counter()
            done = await client.call_tool("ingest", {"collection": "throughput", "text": text, "source_uri": name})
            seconds = time.perf_counter() - started
            assert not done.is_error and done.structured_content is not None, done
            assert done.structured_content["chunks"] == len(chunk_inputs(text))
            rows.append((name, done.structured_content["chunks"], seconds))
    return rows


def many_documents(folder: Path, database_url: str, concurrency: int, batch: int) -> tuple[float, float]:
    """Seconds of `toolpark ingest` of the folder, and of the same command again (all unchanged)."""
    port = free_port()
    env = os.environ | {"TOOLPARK_RETRIEVAL_DATABASE_URL": database_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "toolpark", "serve", "retrieval", "--transport", "http", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    files = len(list(folder.iterdir()))
    command = [sys.executable, "-m", "toolpark", "ingest", str(folder), "--collection", "cranfield", "--create",
               "--concurrency", str(concurrency), "--batch", str(batch),
               "--url", f"http://127.0.0.1:{port}/retrieval/mcp"]  # fmt: skip
    try:
        wait_ready(port)
        seconds = []
        for expected in (f"{files} created", f"{files} unchanged"):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            seconds.append(time.perf_counter() - started)
            assert done.returncode == 0 and done.stdout.strip() == expected, (done.stdout, done.stderr[-2000:])
    finally:
        server.terminate()
        server.wait(timeout=60)
    return seconds[0], seconds[1]


async def raw_seconds(embedder: LocalEmbedder, documents: list[str]) -> float:
    inputs = [text for document in documents for text in chunk_inputs(document)]
    started = time.perf_counter()
    for start in range(0, len(inputs), 256):
        await embedder.embed(inputs[start : start + 256])
    return time.perf_counter() - started


def run(data: Path, concurrency: int, batch: int) -> None:
    abstracts = {
        f"{int(number):04d}.txt": f"{fields.get('T', '').strip()}\n\n{fields.get('W', '').strip()}\n"
        for number, fields in smart(data / "cranfield" / "cran.all.1400").items()
        if fields.get("W", "").strip()
    }
    texts = {
        "geotopo": (data / "pdfs" / "GeoTopo-komprimiert.gt.txt").read_text(),
        "cranfield": (data / "cranfield" / "cran.all.1400").read_text(errors="replace"),
    }
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory) / "abstracts"
        folder.mkdir()
        for name, body in abstracts.items():
            (folder / name).write_text(body)
        with postgres(Path(directory) / "pg") as database:
            large = anyio.run(large_documents, texts, database.url)
        with postgres(Path(directory) / "pg-many") as database:  # not behind the first row's autovacuum
            many_s, again_s = many_documents(folder, database.url, concurrency, batch)

    embedder = LocalEmbedder()
    anyio.run(embedder.embed, ["warm-up"])
    raw_large = [anyio.run(raw_seconds, embedder, [text]) for text in texts.values()]
    # The raw rate of the 1,398 abstracts moved by up to 10% between runs on this machine: the median of three.
    passes = sorted(anyio.run(raw_seconds, embedder, list(abstracts.values())) for _ in range(3))
    raw_many = passes[1]

    print("\n| input | units | ingest units/s | raw embedder units/s | ratio |")
    print("|---|---|---|---|---|")
    for (name, count, ingest_s), raw_s in zip(large, raw_large, strict=True):
        print(f"| {name}, one document | {count} chunks | {count / ingest_s:.1f} | {count / raw_s:.1f} | "
              f"{raw_s / ingest_s:.2f} |")  # fmt: skip
    count = len(abstracts)
    print(f"| Cranfield abstracts, one file each (`toolpark ingest`, {batch} to a call, {concurrency} calls at once) | "
          f"{count} documents | "
          f"{count / many_s:.1f} | {count / raw_many:.1f} | {raw_many / many_s:.2f} |")  # fmt: skip
    print(f"\nraw embedder on the abstracts, three passes: {', '.join(f'{count / p:.1f}' for p in passes)} documents/s")
    print(f"re-run of `toolpark ingest` on the same folder: {again_s:.1f} s, all {count} unchanged")
    print(f"one large document: ingest at {sum(raw_large) / sum(r[2] for r in large):.0%} of the raw embedder; "
          f"many small documents: {raw_many / many_s:.0%} (target >= 80%)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--concurrency", type=int, default=4, help="`toolpark ingest --concurrency`")
    parser.add_argument("--batch", type=int, default=BATCH_DOCUMENTS, help="`toolpark ingest --batch`")
    args = parser.parse_args()
    run(args.data, args.concurrency, args.batch)


if __name__ == "__main__":
    main()
