"""S3 read and list overhead: the s3 server's tools over MCP vs direct boto3 calls, same store, same run.

An embedded SeaweedFS holds a 64 MiB text object and 1,000 small keys. Each round reads 1 MB and
64 KB ranges at random offsets (read_object vs boto3 get_object with Range, decoded to text) and
lists a 100-key page (list_objects vs boto3 list_objects_v2). The protocol floor is measured in
the same run: a no-op tool (`greet` of the everything plugin, served by the same host process),
through the same clients. Target: for the listing and the 64 KB read through the TypeScript SDK
client (LibreChat's) in the default response mode, tool time - boto3 time <= 1.2x the floor.

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
SMALL = 64 * 1024
NOOP = {"name": "greet", "arguments": {"name": "bench"}}


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def measure(urls: dict[str, str], client: Any, reads: int, lists: int) -> dict[str, dict[str, list[float]]]:
    """Interleaves boto3 and each host's tool call, so drift in the machine hits all alike."""
    ways = ["boto3", *urls]
    times: dict[str, dict[str, list[float]]] = {
        operation: {w: [] for w in ways} for operation in ("no-op (floor)", "read 1 MB", "read 64 KB", "list 100")
    }
    offsets = [random.randrange(0, SIZE - RANGE) for _ in range(reads)]
    async with AsyncExitStack() as stack:
        mcps = {name: await stack.enter_async_context(http_client(url, mode="legacy")) for name, url in urls.items()}
        floors = {n: await stack.enter_async_context(http_client(noop_url(u), mode="legacy")) for n, u in urls.items()}
        for name, mcp in mcps.items():  # as LibreChat connects; the first call warms the connection up
            await mcp.call_tool("list_objects", {"bucket": "bench", "prefix": "keys/", "page_size": 100})
            await floors[name].call_tool(NOOP["name"], NOOP["arguments"])
        del times["no-op (floor)"]["boto3"]
        for offset in offsets:
            for name, mcp in mcps.items():
                started = time.perf_counter()
                await floors[name].call_tool(NOOP["name"], NOOP["arguments"])
                times["no-op (floor)"][name].append(time.perf_counter() - started)
                for operation, length in (("read 1 MB", RANGE), ("read 64 KB", SMALL)):
                    arguments = {"bucket": "bench", "key": "big.txt", "start": offset, "max_bytes": length}
                    started = time.perf_counter()
                    result = await mcp.call_tool("read_object", arguments)
                    times[operation][name].append(time.perf_counter() - started)
                    assert not result.is_error
            for operation, length in (("read 1 MB", RANGE), ("read 64 KB", SMALL)):
                started = time.perf_counter()
                body = client.get_object(Bucket="bench", Key="big.txt", Range=f"bytes={offset}-{offset + length - 1}")
                body["Body"].read().decode()
                times[operation]["boto3"].append(time.perf_counter() - started)
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


def noop_url(s3_url: str) -> str:
    """The no-op tool's endpoint on the host serving `s3_url`."""
    return s3_url.replace("/s3/mcp", "/everything/mcp")


def start_host(env: dict[str, str], **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """The host in its own process, as deployed, so it does not share this process's GIL; it also
    serves the everything plugin, whose `greet` is the floor."""
    port = free_port()
    command = [sys.executable, "-m", "toolpark", "serve", "s3", "everything", "--transport", "http"]
    command += ["--port", str(port)]
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
            starts = random.sample(range(SIZE - RANGE), args.reads)
            listing = {"name": "list_objects", "arguments": {"bucket": "bench", "prefix": "keys/", "page_size": 100}}
            for mode, (_, url) in hosts.items():
                way = f"toolpark ({mode}), TS client"
                times["no-op (floor)"][way] = ts_client_times(noop_url(url), [NOOP] * args.reads)
                for operation, length in (("read 1 MB", RANGE), ("read 64 KB", SMALL)):
                    calls = [
                        {
                            "name": "read_object",
                            "arguments": {"bucket": "bench", "key": "big.txt", "start": n, "max_bytes": length},
                        }
                        for n in starts
                    ]
                    times[operation][way] = ts_client_times(url, calls)
                times["list 100"][way] = ts_client_times(url, [listing] * args.lists)
        finally:
            for host, _ in hosts.values():
                host.terminate()
                host.wait(30)
    print(f"\n{args.reads} ranged reads, {args.lists} listings; read_object/list_objects over MCP (streamable HTTP,")
    print("host in its own process; sse: the default response stream, json: TOOLPARK_JSON_RESPONSE) vs the same")
    print("boto3 calls made directly from this process. The Python SDK client validates each structured result")
    print("with jsonschema (~3 ms for a 100-key listing); the TypeScript SDK client, LibreChat's, compiles its")
    print("validators. Ratios are of means.")
    print("| operation | way | p50 ms | p99 ms | vs boto3 | (tool - boto3) / floor |")
    print("|---|---|---|---|---|---|")
    floors = {way: statistics.mean(values) for way, values in times.pop("no-op (floor)").items()}
    for way, floor in floors.items():
        print(f"| no-op (floor) | {way} | {floor * 1000:.1f} (mean) | | | |")
    for operation, by_way in times.items():
        base = statistics.mean(by_way["boto3"])
        for way, values in by_way.items():
            p50, p99 = (percentile(values, q) * 1000 for q in (0.5, 0.99))
            mean = statistics.mean(values)
            beyond = f"{(mean - base) / floors[way]:.2f}" if way in floors else ""
            print(f"| {operation} | {way} | {p50:.1f} | {p99:.1f} | {mean / base:.2f}x | {beyond} |")
    print("\ntarget: (tool - boto3) / floor <= 1.2 for list 100 and read 64 KB, TypeScript client, sse")


if __name__ == "__main__":
    main()
