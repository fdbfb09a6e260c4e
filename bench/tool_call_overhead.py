"""Tool-call overhead over streamable HTTP: toolpark's host vs a bare MCP SDK server.

Both serve the same no-op tool from their own process on loopback, in two modes: sessions with
SSE responses (the default) and stateless with JSON responses (what replicas behind a load
balancer run); toolpark with API-key auth and its metrics on, the SDK bare. One client process
calls them in alternating rounds (so drift on a shared machine hits both alike), sequentially for
latency and with concurrent callers for throughput. Targets: toolpark >= 0.9x the bare SDK with
sessions; >= 1.3x its calls/s at equal or lower p50 in stateless JSON mode.

    .venv/bin/python bench/tool_call_overhead.py [--calls 2000] [--rounds 4] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import psutil
from mcp import Client

from toolpark.clients import http_client
from toolpark.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


KEY = "tpk_bench"
MODES = {"sessions, SSE": False, "stateless, JSON": True}


def serve_toolpark(port: int, stateless: bool) -> None:
    from toolpark import Plugin
    from toolpark.host.config import HostConfig, HostSettings
    from toolpark.host.runtime import PluginRuntime
    from toolpark.host.serving import Host
    from toolpark.security.auth import ApiKey, AuthSettings, hash_key

    plugin: Plugin = Plugin("bench", version="1", description="No-op tool for benchmarks.")

    @plugin.tool(read_only=True)
    async def noop() -> str:
        """Return at once."""
        return "ok"

    config = HostConfig(
        host=HostSettings(port=port, log_level="WARNING", stateless=stateless, json_response=stateless),
        auth=AuthSettings(api_keys=[ApiKey(name="bench", hash=hash_key(KEY))]),
    )
    Host([PluginRuntime.configure(plugin)], config).uvicorn_server().run()


def serve_bare(port: int, stateless: bool) -> None:
    import logging

    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")

    @server.tool()
    async def noop() -> str:
        """Return at once."""
        return "ok"

    logging.getLogger().setLevel(logging.WARNING)
    app = server.streamable_http_app(stateless_http=stateless, json_response=stateless)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # the server process's CPU time over its rounds
    calls: int = 0


def connected(url: str) -> Client:
    return http_client(url, headers={"Authorization": f"Bearer {KEY}"}, mode="legacy")


async def sequential(url: str, calls: int) -> list[float]:
    async with connected(url) as client:
        for _ in range(20):  # warm-up
            await client.call_tool("noop", {})
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("noop", {})
            times.append(time.perf_counter() - started)
            assert not result.is_error
    return times


async def concurrent(url: str, calls: int, callers: int) -> float:
    async with connected(url) as client:
        await client.call_tool("noop", {})

        async def worker(n: int) -> None:
            for _ in range(n):
                await client.call_tool("noop", {})

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(callers):
                group.start_soon(worker, calls // callers)
        return (calls // callers * callers) / (time.perf_counter() - started)


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per round and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", choices=["toolpark", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--stateless", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        (serve_toolpark if args.serve == "toolpark" else serve_bare)(args.port, args.stateless)
        return

    servers = [(mode, kind) for mode in MODES for kind in ("toolpark", "bare MCP SDK")]
    ports = {server: free_port() for server in servers}
    urls = {(mode, kind): f"http://127.0.0.1:{ports[mode, kind]}/{'bench/' if kind == 'toolpark' else ''}mcp"
            for mode, kind in servers}  # fmt: skip
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve", kind.split()[0], "--port", str(ports[mode, kind])]
            + (["--stateless"] if MODES[mode] else []),
            cwd=ROOT,
        )
        for mode, kind in servers
    ]
    try:
        for port in ports.values():
            wait_ready(port)
        samples = {server: Sample() for server in servers}
        for _ in range(args.rounds):
            for server, process in zip(servers, processes, strict=True):
                sample, before = samples[server], cpu_seconds(process.pid)
                sample.latencies += anyio.run(sequential, urls[server], args.calls)
                sample.throughput.append(anyio.run(concurrent, urls[server], args.calls, args.concurrency))
                sample.cpu_s += cpu_seconds(process.pid) - before
                sample.calls += args.calls + args.calls // args.concurrency * args.concurrency + 21
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    print(
        f"\n{args.rounds} rounds x {args.calls} sequential calls; {args.concurrency} concurrent callers for throughput"
    )
    print("| mode | server | sequential calls/s | p50 ms | p99 ms | concurrent calls/s | server CPU ms/call |")
    print("|---|---|---|---|---|---|---|")
    rows = {}
    for (mode, kind), sample in samples.items():
        rate = len(sample.latencies) / sum(sample.latencies)
        p50 = percentile(sample.latencies, 0.5) * 1000
        rows[mode, kind] = (rate, statistics.median(sample.throughput), p50)
        print(
            f"| {mode} | {kind} | {rate:,.0f} | {p50:.2f} | {percentile(sample.latencies, 0.99) * 1000:.2f} | "
            f"{rows[mode, kind][1]:,.0f} | {sample.cpu_s / sample.calls * 1000:.2f} |"
        )
    for mode, stateless in MODES.items():
        ours, bare = rows[mode, "toolpark"], rows[mode, "bare MCP SDK"]
        target = "1.3x at equal or lower p50" if stateless else "0.9x"
        print(
            f"\n{mode}: toolpark / bare SDK {ours[0] / bare[0]:.2f}x sequential, {ours[1] / bare[1]:.2f}x concurrent, "
            f"p50 {ours[2]:.2f} vs {bare[2]:.2f} ms (target >= {target})"
        )


if __name__ == "__main__":
    main()
