"""S3 read and list overhead: the s3 server's tools over MCP vs direct boto3 calls, same store, same run.

An embedded SeaweedFS holds a 64 MiB text object and 1,000 small keys. Each round reads 1 MB
ranges at random offsets (read_object vs boto3 get_object with Range, decoded to text) and
lists a 100-key page (list_objects vs boto3 list_objects_v2). Target: toolpark <= 1.2x boto3.

    .venv/bin/python bench/s3_overhead.py [--reads 50] [--lists 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import boto3
import httpx
from botocore.config import Config

from toolpark.operations.embedded import seaweedfs
from toolpark.testing import free_port, http_client

SIZE = 64 * 1024 * 1024
RANGE = 1_000_000


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def measure(urls: dict[str, str], client: Any, reads: int, lists: int) -> dict[str, dict[str, list[float]]]:
    """Interleaves boto3 and each host's tool call, so drift in the machine hits all alike."""
    ways = ["boto3", *urls]
    times: dict[str, dict[str, list[float]]] = {"read 1 MB": {w: [] for w in ways}, "list 100": {w: [] for w in ways}}
    offsets = [random.randrange(0, SIZE - RANGE) for _ in range(reads)]
    async with AsyncExitStack() as stack:
        mcps = {name: await stack.enter_async_context(http_client(url, mode="legacy")) for name, url in urls.items()}
        for mcp in mcps.values():  # as LibreChat connects; the first call warms the connection up
            await mcp.call_tool("list_objects", {"bucket": "bench", "prefix": "keys/", "page_size": 100})
        for offset in offsets:
            for name, mcp in mcps.items():
                started = time.perf_counter()
                result = await mcp.call_tool("read_object", {"bucket": "bench", "key": "big.txt", "start": offset})
                times["read 1 MB"][name].append(time.perf_counter() - started)
                assert not result.is_error
            started = time.perf_counter()
            body = client.get_object(Bucket="bench", Key="big.txt", Range=f"bytes={offset}-{offset + RANGE - 1}")
            body["Body"].read().decode()
            times["read 1 MB"]["boto3"].append(time.perf_counter() - started)
        for _ in range(lists):
            for name, mcp in mcps.items():
                started = time.perf_counter()
                result = await mcp.call_tool("list_objects", {"bucket": "bench", "prefix": "keys/", "page_size": 100})
                times["list 100"][name].append(time.perf_counter() - started)
                assert len(result.structured_content["objects"]) == 100  # type: ignore[index]
            started = time.perf_counter()
            client.list_objects_v2(Bucket="bench", Prefix="keys/", MaxKeys=100, Delimiter="/")
            times["list 100"]["boto3"].append(time.perf_counter() - started)
    return times


def ts_client_times(url: str, calls: list[dict[str, Any]]) -> list[float]:
    """Seconds per call through the TypeScript SDK client (tests/node, installed by scripts/test)."""
    node_dir = Path(__file__).resolve().parents[1] / "tests" / "node"
    (node,) = sorted((node_dir / "node_modules").glob("node-linux-*/bin/node"))[:1]
    done = subprocess.run(
        [str(node), "bench-calls.mjs", url], cwd=node_dir, input=json.dumps(calls),
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return [ms / 1000 for ms in json.loads(done.stdout)]


def start_host(env: dict[str, str], **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """The host in its own process, as deployed, so it does not share this process's GIL."""
    port = free_port()
    command = [sys.executable, "-m", "toolpark", "serve", "s3", "--transport", "http", "--port", str(port)]
    host = subprocess.Popen(command, env={**env, **extra})
    wait_ready(port)
    return host, f"http://127.0.0.1:{port}/s3/mcp"


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the toolpark host did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--lists", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, seaweedfs(Path(directory)) as store:
        client = boto3.client(
            "s3", endpoint_url=store.endpoint_url, aws_access_key_id=store.access_key_id,
            aws_secret_access_key=store.secret_access_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip
        client.create_bucket(Bucket="bench")
        client.put_object(Bucket="bench", Key="big.txt", Body=b"toolpark " * (SIZE // 9) + b"x" * (SIZE % 9))
        for n in range(1000):
            client.put_object(Bucket="bench", Key=f"keys/{n:04d}.txt", Body=b"k")
        env = {
            **os.environ,
            "TOOLPARK_S3_ENDPOINT_URL": store.endpoint_url,
            "TOOLPARK_S3_ACCESS_KEY_ID": store.access_key_id,
            "TOOLPARK_S3_SECRET_ACCESS_KEY": store.secret_access_key,
            "TOOLPARK_S3_MAX_READ_BYTES": str(RANGE),
            "TOOLPARK_S3_MAX_RESULT_BYTES": "4000000",
            "TOOLPARK_LOG_LEVEL": "WARNING",
        }
        hosts = {"sse": start_host(env), "json": start_host(env, TOOLPARK_JSON_RESPONSE="true")}
        try:
            urls = {f"toolpark ({mode})": url for mode, (_, url) in hosts.items()}
            times = anyio.run(measure, urls, client, args.reads, args.lists)
            # The same calls through the client LibreChat uses, right after, against both hosts.
            reads = [
                {"name": "read_object", "arguments": {"bucket": "bench", "key": "big.txt", "start": offset}}
                for offset in random.sample(range(SIZE - RANGE), args.reads)
            ]
            listing = {"name": "list_objects", "arguments": {"bucket": "bench", "prefix": "keys/", "page_size": 100}}
            for mode, (_, url) in hosts.items():
                times["read 1 MB"][f"toolpark ({mode}), TS client"] = ts_client_times(url, reads)
                times["list 100"][f"toolpark ({mode}), TS client"] = ts_client_times(url, [listing] * args.lists)
        finally:
            for host, _ in hosts.values():
                host.terminate()
                host.wait(30)
    print(f"\n{args.reads} ranged reads, {args.lists} listings; read_object/list_objects over MCP (streamable HTTP,")
    print("host in its own process; sse: the default response stream, json: TOOLPARK_JSON_RESPONSE) vs the same")
    print("boto3 calls made directly from this process. The Python SDK client validates each structured result")
    print("with jsonschema (~3 ms for a 100-key listing); the TypeScript SDK client, LibreChat's, compiles its")
    print("validators. Ratios are of means.")
    print("| operation | way | p50 ms | p99 ms | vs boto3 |")
    print("|---|---|---|---|---|")
    for operation, by_way in times.items():
        base = statistics.mean(by_way["boto3"])
        for way, values in by_way.items():
            p50, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.99))
            print(f"| {operation} | {way} | {p50:.1f} | {p99:.1f} | {statistics.mean(values) / base:.2f}x |")
    print("\ntarget: ratio <= 1.2x")


if __name__ == "__main__":
    main()
