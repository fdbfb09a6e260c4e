"""Tool-call overhead over streamable HTTP: toolpark's host vs a bare MCP SDK server.

Both serve the same no-op tool from their own process on loopback; one client process calls
them in alternating rounds (so drift on a shared machine hits both alike), sequentially for
latency and with concurrent callers for throughput. Target: toolpark >= 0.9x the bare SDK.

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
from mcp import Client

from toolpark.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def serve_toolpark(port: int) -> None:
    from toolpark import Plugin
    from toolpark.host.config import HostConfig, HostSettings
    from toolpark.host.runtime import PluginRuntime
    from toolpark.host.serving import Host

    plugin: Plugin = Plugin("bench", version="1", description="No-op tool for benchmarks.")

    @plugin.tool(read_only=True)
    async def noop() -> str:
        """Return at once."""
        return "ok"

    config = HostConfig(host=HostSettings(port=port, log_level="WARNING"))
    Host([PluginRuntime.configure(plugin)], config).uvicorn_server().run()


def serve_bare(port: int) -> None:
    import logging

    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")

    @server.tool()
    async def noop() -> str:
        """Return at once."""
        return "ok"

    logging.getLogger().setLevel(logging.WARNING)
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)


async def sequential(url: str, calls: int) -> list[float]:
    async with Client(url, mode="legacy") as client:
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
    async with Client(url, mode="legacy") as client:
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per round and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", choices=["toolpark", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        (serve_toolpark if args.serve == "toolpark" else serve_bare)(args.port)
        return

    ports = {"toolpark": free_port(), "bare MCP SDK": free_port()}
    urls = {"toolpark": f"http://127.0.0.1:{ports['toolpark']}/bench/mcp"}
    urls["bare MCP SDK"] = f"http://127.0.0.1:{ports['bare MCP SDK']}/mcp"
    processes = [
        subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(ports[name])], cwd=ROOT)
        for name, kind in (("toolpark", "toolpark"), ("bare MCP SDK", "bare"))
    ]
    try:
        for port in ports.values():
            wait_ready(port)
        samples = {name: Sample() for name in urls}
        for _ in range(args.rounds):
            for name, url in urls.items():
                samples[name].latencies += anyio.run(sequential, url, args.calls)
                samples[name].throughput.append(anyio.run(concurrent, url, args.calls, args.concurrency))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    rows = {}
    print(
        f"\n{args.rounds} rounds x {args.calls} sequential calls; {args.concurrency} concurrent callers for throughput"
    )
    print("| server | sequential calls/s | p50 ms | p99 ms | concurrent calls/s |")
    print("|---|---|---|---|---|")
    for name, sample in samples.items():
        rate = len(sample.latencies) / sum(sample.latencies)
        rows[name] = (rate, statistics.median(sample.throughput))
        print(
            f"| {name} | {rate:,.0f} | {percentile(sample.latencies, 0.5) * 1000:.2f} | "
            f"{percentile(sample.latencies, 0.99) * 1000:.2f} | {rows[name][1]:,.0f} |"
        )
    seq_ratio = rows["toolpark"][0] / rows["bare MCP SDK"][0]
    con_ratio = rows["toolpark"][1] / rows["bare MCP SDK"][1]
    print(f"\ntoolpark / bare SDK: {seq_ratio:.2f}x sequential, {con_ratio:.2f}x concurrent (target >= 0.90x)")


if __name__ == "__main__":
    main()
