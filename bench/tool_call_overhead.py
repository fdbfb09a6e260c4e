"""Tool-call overhead over streamable HTTP: toolpark's host vs a bare MCP SDK server.

Both serve the same no-op tool from their own process on loopback, in two modes: sessions with
SSE responses (the default) and stateless with JSON responses (what replicas behind a load
balancer run); toolpark with API-key auth and its metrics on, the SDK bare. One client process
calls them in alternating rounds (so drift on a shared machine hits both alike), sequentially for
latency and with concurrent callers for throughput.

Two clients: the MCP SDK's (what an agent uses), and in stateless JSON mode also raw HTTP, the same
`tools/call` request pre-encoded and POSTed over keep-alive connections (what a load generator such
as wrk does). On two cores the SDK client spends about twice the server's CPU per call, so its
calls/s say more about the client than the server; the raw client leaves the server the bottleneck.
Targets: toolpark >= 0.9x the bare SDK with sessions (SDK client); in stateless JSON mode >= 1.3x
its concurrent calls/s at equal or lower p50 (raw client).

    .venv/bin/python bench/tool_call_overhead.py [--calls 2000] [--rounds 4] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import psutil
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client

from toolpark.clients import http_client
from toolpark.testing import free_port

ROOT = Path(__file__).resolve().parent.parent


KEY = "tpk_bench"
MODES = {"sessions, SSE": False, "stateless, JSON": True}
SDK, RAW = "MCP SDK", "raw HTTP"
NOOP_CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "noop", "arguments": {}}})


def serve_toolpark(port: int, stateless: bool) -> None:
    from toolpark import Plugin
    from toolpark.host.config import HostConfig, HostSettings
    from toolpark.host.runtime import PluginRuntime
    from toolpark.host.transport.serving import Host
    from toolpark.security.auth import AuthSettings
    from toolpark.security.keys import ApiKey, hash_key

    plugin: Plugin = Plugin("bench", version="1", description="No-op tool for benchmarks.")

    @plugin.tool(read_only=True)
    async def noop() -> str:
        """Return at once."""
        return "ok"

    config = HostConfig(
        host=HostSettings.of(
            {"port": port, "log_level": "WARNING", "stateless": stateless, "json_response": stateless}
        ),
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
    loaded: list[float] = field(default_factory=list)  # latencies under concurrent load (raw client)
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


def raw_request(url: str) -> bytes:
    """The stateless no-op call as bytes on the wire, with the headers both servers require."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {len(NOOP_CALL)}\r\n\r\n"
    )
    return head.encode() + NOOP_CALL.encode()


async def raw_caller(url: str, calls: int, latencies: list[float]) -> None:
    """`calls` no-op calls one after another on one keep-alive connection, each answer checked."""
    request, parts = raw_request(url), urlsplit(url)
    async with await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 80) as stream:
        buffered = BufferedByteReceiveStream(stream)
        for _ in range(calls):
            started = time.perf_counter()
            await stream.send(request)
            head = await buffered.receive_until(b"\r\n\r\n", 65536)
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
            body = await buffered.receive_exactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200") or json.loads(body)["result"]["isError"]:
                raise RuntimeError(f"the no-op call failed: {head.decode()} {body[:300]!r}")


async def raw_sequential(url: str, calls: int) -> list[float]:
    await raw_caller(url, 20, [])  # warm-up
    latencies: list[float] = []
    await raw_caller(url, calls, latencies)
    return latencies


async def raw_concurrent(url: str, calls: int, callers: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(callers):
            group.start_soon(raw_caller, url, calls // callers, latencies)
    return len(latencies) / (time.perf_counter() - started), latencies


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


def measure(url: str, client: str, calls: int, concurrency: int, sample: Sample) -> None:
    """One round of one client against one server: sequential calls, then concurrent ones."""
    if client == SDK:
        sample.latencies += anyio.run(sequential, url, calls)
        sample.throughput.append(anyio.run(concurrent, url, calls, concurrency))
    else:
        sample.latencies += anyio.run(raw_sequential, url, calls)
        rate, loaded = anyio.run(raw_concurrent, url, calls, concurrency)
        sample.throughput.append(rate)
        sample.loaded += loaded
    sample.calls += calls + calls // concurrency * concurrency + (21 if client == SDK else 20)


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
    runs = [(mode, kind, client) for mode, kind in servers for client in ((SDK, RAW) if MODES[mode] else (SDK,))]
    try:
        for port in ports.values():
            wait_ready(port)
        samples = {run: Sample() for run in runs}
        pids = {server: process.pid for server, process in zip(servers, processes, strict=True)}
        for _ in range(args.rounds):
            for mode, kind, client in runs:
                sample, before = samples[mode, kind, client], cpu_seconds(pids[mode, kind])
                measure(urls[mode, kind], client, args.calls, args.concurrency, sample)
                sample.cpu_s += cpu_seconds(pids[mode, kind]) - before
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    print(
        f"\n{args.rounds} rounds x {args.calls} sequential calls; {args.concurrency} concurrent callers for throughput"
    )
    print(
        "| mode | client | server | sequential calls/s | p50 ms | p99 ms | concurrent calls/s | p50 ms under load "
        "| server CPU us/call |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for (mode, kind, client), sample in samples.items():
        rate = len(sample.latencies) / sum(sample.latencies)
        loaded = f"{percentile(sample.loaded, 0.5) * 1000:.2f}" if sample.loaded else ""
        rows[mode, kind, client] = (rate, statistics.median(sample.throughput), sample)
        print(
            f"| {mode} | {client} | {kind} | {rate:,.0f} | {percentile(sample.latencies, 0.5) * 1000:.2f} | "
            f"{percentile(sample.latencies, 0.99) * 1000:.2f} | {rows[mode, kind, client][1]:,.0f} | {loaded} | "
            f"{sample.cpu_s / sample.calls * 1e6:.0f} |"
        )
    for mode, kind, client in runs:
        if kind != "toolpark":
            continue
        ours, bare = rows[mode, kind, client], rows[mode, "bare MCP SDK", client]
        line = (
            f"\n{mode}, {client} client: toolpark / bare SDK {ours[0] / bare[0]:.2f}x sequential, "
            f"{ours[1] / bare[1]:.2f}x concurrent, p50 {percentile(ours[2].latencies, 0.5) * 1000:.2f} vs "
            f"{percentile(bare[2].latencies, 0.5) * 1000:.2f} ms"
        )
        if ours[2].loaded:
            line += (
                f", under load {percentile(ours[2].loaded, 0.5) * 1000:.2f} vs "
                f"{percentile(bare[2].loaded, 0.5) * 1000:.2f} ms"
            )
        target = {SDK: " (target >= 0.9x)", RAW: " (target >= 1.3x concurrent at equal or lower p50)"}
        print(line + (target[client] if MODES[mode] == (client == RAW) else ""))


if __name__ == "__main__":
    main()
