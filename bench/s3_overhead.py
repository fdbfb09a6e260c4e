"""S3 read and list overhead: the s3 server's tools over MCP vs direct boto3 calls, same store, same run.

An embedded SeaweedFS holds a 64 MiB text object and 1,000 small keys. Each round reads 1 MB and
64 KB ranges at random offsets (read_object vs boto3 get_object with Range, decoded to text) and
lists a 100-key page (list_objects vs boto3 list_objects_v2). The protocol floor is measured in
the same run: a no-op tool (`greet` of the everything plugin, served by the same host process),
through the same clients. Target: for the listing and the 64 KB read through the TypeScript SDK
client (LibreChat's) in the default response mode, tool time - boto3 time <= 1.2x the floor.
The first table interleaves every way's calls; the others time the target's way and boto3 with
each operation's calls in a row, in a tight loop and after a few milliseconds of idleness (as a
chat's tool calls come), since the floor itself depends on how warm the machine is.

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
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import boto3
import httpx
from botocore.config import Config
from mcp import Client

from toolpark.operations.embedded import seaweedfs
from toolpark.testing import free_port, http_client

SIZE = 64 * 1024 * 1024
RANGE = 1_000_000
SMALL = 64 * 1024
NOOP = {"name": "greet", "arguments": {"name": "bench"}}
GAPS_S = (0.0, 0.004, 0.02)  # idleness before each call in the in-a-row tables


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


class TypeScriptClient:
    """The TypeScript SDK client (tests/node, installed by scripts/test) in a Node process of its
    own, connected once; each call is timed inside Node and handed back, one at a time, so its
    calls interleave with the others."""

    def __init__(self, url: str) -> None:
        node_dir = Path(__file__).resolve().parents[1] / "tests" / "node"
        (node,) = sorted((node_dir / "node_modules").glob("node-linux-*/bin/node"))[:1]
        self.process = subprocess.Popen(
            [str(node), "bench-calls.mjs", url], cwd=node_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        if self._line() != "ready":
            raise RuntimeError(f"the TypeScript client could not connect to {url}")

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the TypeScript client stopped (exit {self.process.wait(10)})")
        return line.strip()

    def call(self, name: str, arguments: dict[str, Any]) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"name": name, "arguments": arguments}) + "\n")
        self.process.stdin.flush()
        return float(self._line()) / 1000

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


async def measure(urls: dict[str, str], client: Any, reads: int, lists: int) -> dict[str, dict[str, list[float]]]:
    """Interleaves boto3 and each host's tool call through each client, so drift in the machine
    (and the store's pace, which slows after idle gaps) hits all alike."""
    ways = ["boto3", *(f"{host}{suffix}" for suffix in ("", ", TS client") for host in urls)]
    times: dict[str, dict[str, list[float]]] = {
        operation: {w: [] for w in ways} for operation in ("no-op (floor)", "read 1 MB", "read 64 KB", "list 100")
    }
    del times["no-op (floor)"]["boto3"]
    listing = {"bucket": "bench", "prefix": "keys/", "page_size": 100}
    async with AsyncExitStack() as stack:
        # Each way: a client for the s3 tools and one for the no-op, on the same host.
        callers: dict[str, tuple[Callable[..., Awaitable[float]], Callable[..., Awaitable[float]]]] = {}
        for host, url in urls.items():
            python = await stack.enter_async_context(http_client(url, mode="legacy"))
            python_floor = await stack.enter_async_context(http_client(noop_url(url), mode="legacy"))
            callers[host] = (timed_python(python), timed_python(python_floor))
            typescript, typescript_floor = TypeScriptClient(url), TypeScriptClient(noop_url(url))
            stack.callback(typescript.close)
            stack.callback(typescript_floor.close)
            callers[f"{host}, TS client"] = (timed_node(typescript), timed_node(typescript_floor))
        for tool, floor in callers.values():  # as LibreChat connects; the first call warms the connection up
            await tool("list_objects", listing)
            await floor(NOOP["name"], NOOP["arguments"])
        for _ in range(reads):
            offset = random.randrange(0, SIZE - RANGE)
            for way, (tool, floor) in callers.items():
                times["no-op (floor)"][way].append(await floor(NOOP["name"], NOOP["arguments"]))
                for operation, length in (("read 1 MB", RANGE), ("read 64 KB", SMALL)):
                    arguments = {"bucket": "bench", "key": "big.txt", "start": offset, "max_bytes": length}
                    times[operation][way].append(await tool("read_object", arguments))
            for operation, length in (("read 1 MB", RANGE), ("read 64 KB", SMALL)):
                started = time.perf_counter()
                body = client.get_object(Bucket="bench", Key="big.txt", Range=f"bytes={offset}-{offset + length - 1}")
                body["Body"].read().decode()
                times[operation]["boto3"].append(time.perf_counter() - started)
        for _ in range(lists):
            for way, (tool, _) in callers.items():
                times["list 100"][way].append(await tool("list_objects", listing))
            started = time.perf_counter()
            client.list_objects_v2(Bucket="bench", Prefix="keys/", MaxKeys=100, Delimiter="/")
            times["list 100"]["boto3"].append(time.perf_counter() - started)
    return times


def in_a_row(url: str, client: Any, calls: int, gap_s: float) -> dict[str, dict[str, list[float]]]:
    """The target's way (TypeScript client, SSE) and boto3, each operation's calls in a row, each
    call after `gap_s` of idleness (none: a tight loop)."""
    way, listing = "toolpark (sse), TS client", {"bucket": "bench", "prefix": "keys/", "page_size": 100}
    typescript, typescript_floor = TypeScriptClient(url), TypeScriptClient(noop_url(url))

    def paced(call: Callable[[], float]) -> list[float]:
        times = []
        for _ in range(calls):
            time.sleep(gap_s)
            times.append(call())
        return times

    def boto3_read(offset: int) -> float:
        started = time.perf_counter()
        answer = client.get_object(Bucket="bench", Key="big.txt", Range=f"bytes={offset}-{offset + SMALL - 1}")
        answer["Body"].read().decode()
        return time.perf_counter() - started

    def boto3_list() -> float:
        started = time.perf_counter()
        client.list_objects_v2(Bucket="bench", Prefix="keys/", MaxKeys=100, Delimiter="/")
        return time.perf_counter() - started

    try:
        typescript.call("list_objects", listing)  # warm-up, as in the interleaved rounds
        typescript_floor.call(NOOP["name"], NOOP["arguments"])
        times = {"no-op (floor)": {way: paced(lambda: typescript_floor.call(NOOP["name"], NOOP["arguments"]))}}
        read = {"bucket": "bench", "key": "big.txt", "max_bytes": SMALL}
        times["read 64 KB"] = {
            way: paced(lambda: typescript.call("read_object", {**read, "start": random.randrange(0, SIZE - SMALL)})),
            "boto3": paced(lambda: boto3_read(random.randrange(0, SIZE - SMALL))),
        }
        times["list 100"] = {way: paced(lambda: typescript.call("list_objects", listing)), "boto3": paced(boto3_list)}
        return times
    finally:
        typescript.close()
        typescript_floor.close()


def table(times: dict[str, dict[str, list[float]]]) -> None:
    print("| operation | way | mean ms | p50 ms | p99 ms | vs boto3 | (tool - boto3) / floor, of means | of p50s |")
    print("|---|---|---|---|---|---|---|---|")
    floors = times.pop("no-op (floor)")
    for way, values in floors.items():
        mean, p50, p99 = statistics.mean(values) * 1000, percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
        print(f"| no-op (floor) | {way} | {mean:.1f} | {p50:.1f} | {p99:.1f} | | | |")
    for operation, by_way in times.items():
        base, base_p50 = statistics.mean(by_way["boto3"]), percentile(by_way["boto3"], 0.5)
        for way, values in by_way.items():
            mean, p50, p99 = statistics.mean(values), percentile(values, 0.5), percentile(values, 0.99)
            beyond = ""
            if way in floors:
                of_means = (mean - base) / statistics.mean(floors[way])
                of_p50s = (p50 - base_p50) / percentile(floors[way], 0.5)
                beyond = f"{of_means:.2f} | {of_p50s:.2f}"
            print(
                f"| {operation} | {way} | {mean * 1000:.1f} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {mean / base:.2f}x "
                f"| {beyond or ' |'} |"
            )


def timed_python(mcp: Client) -> Callable[[str, dict[str, Any]], Awaitable[float]]:
    async def call(name: str, arguments: dict[str, Any]) -> float:
        started = time.perf_counter()
        result = await mcp.call_tool(name, arguments)
        elapsed = time.perf_counter() - started
        if result.is_error:
            raise RuntimeError(f"{name} failed: {result.content}")
        if name == "list_objects":
            assert len(result.structured_content["objects"]) == 100  # type: ignore[index]
        return elapsed

    return call


def timed_node(client: TypeScriptClient) -> Callable[[str, dict[str, Any]], Awaitable[float]]:
    async def call(name: str, arguments: dict[str, Any]) -> float:
        return client.call(name, arguments)

    return call


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
            by_gap = {gap: in_a_row(hosts["sse"][1], client, args.reads, gap) for gap in GAPS_S}
        finally:
            for host, _ in hosts.values():
                host.terminate()
                host.wait(30)
    print(f"\n{args.reads} ranged reads, {args.lists} listings; read_object/list_objects over MCP (streamable HTTP,")
    print("host in its own process; sse: the default response stream, json: TOOLPARK_JSON_RESPONSE) vs the same")
    print("boto3 calls made directly from this process. The Python SDK client validates each structured result")
    print("with jsonschema (~3 ms for a 100-key listing); the TypeScript SDK client, LibreChat's, compiles its")
    print("validators. Every way's calls and boto3's are interleaved, one of each in turn.")
    table(times)
    for gap, times in by_gap.items():
        pacing = f"each call after {gap * 1000:g} ms idle" if gap else "back to back"
        print(f"\nThe target's way and boto3, each operation's calls in a row, {pacing}:")
        table(times)
    print("\nA no-op costs less the less the machine idled before it: in a tight loop it runs on warm caches")
    print("and busy cores, where a call that waits on the store, or follows a chat turn, does not.")
    print("\ntarget: (tool - boto3) / floor <= 1.2 for list 100 and read 64 KB, TypeScript client, sse")


if __name__ == "__main__":
    main()
