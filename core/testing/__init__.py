"""Test harness for plugin authors: an in-memory client in one line, and the real HTTP host.

```python
async with connect(plugin) as client:
    result = await client.call_tool("add", {"a": 1, "b": 2})

with serve_http(plugin) as running:
    async with Client(running.url(plugin.name)) as client: ...
```
Both read no environment or `toolpark.toml` beyond what the test passes, so installed plugins and
the developer's own configuration never leak into a test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from mcp import Client

from toolpark.clients import http_client
from toolpark.contract.plugin import Plugin
from toolpark.contract.settings import from_values
from toolpark.host.config import HostConfig
from toolpark.host.runtime import PluginRuntime
from toolpark.host.transport.serving import Host
from toolpark.security.egress import Resolver

__all__ = ["RunningHost", "connect", "free_port", "http_client", "post_initialize", "serve_http"]


@asynccontextmanager
async def connect(
    plugin: Plugin[Any, Any],
    *,
    settings: Mapping[str, Any] | None = None,
    documents: Mapping[str, Any] | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An MCP SDK `Client` connected in memory to `plugin`, its lifespan running.

    `settings` set plugin settings by field name, `documents` the host's parser settings;
    `client_options` go to `mcp.Client` (callbacks for sampling, elicitation and logging,
    `mode`, ...). `client.session` is the SDK `ClientSession`.
    """
    runtime = PluginRuntime(plugin, from_values(plugin.settings_model, settings))
    host = Host([runtime], HostConfig.of(documents=documents))
    async with host.running(), Client(host.server(runtime), **client_options) as client:
        yield client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post_initialize(url: str, version: str = "2025-11-25", **headers: str) -> httpx.Response:
    """One raw MCP `initialize` POST to `url`, for testing what a host answers before any session
    exists: authentication, Host checks, the response's content type."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    return httpx.post(url, json=message, headers={"Accept": "application/json, text/event-stream", **headers})


@dataclass(frozen=True)
class RunningHost:
    """A toolpark HTTP host serving on `base_url`."""

    base_url: str
    host: Host

    def url(self, plugin: str | None = None) -> str:
        """The MCP endpoint of `plugin`, or the combined `/mcp` endpoint."""
        return f"{self.base_url}/{plugin}/mcp" if plugin else f"{self.base_url}/mcp"

    async def get(self, path: str) -> httpx.Response:
        """GET a path of the host, such as `/readyz` or `/metrics`."""
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.get(path)


def _per_plugin(plugins: list[Plugin[Any, Any]], settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """Each plugin's settings by its name, from either shape `serve_http` takes; a name that is no
    plugin's is an error, not silently nothing."""
    names = {p.name for p in plugins}
    if len(plugins) == 1 and set(settings) - names:  # one plugin's fields, as `connect` takes them
        return {plugins[0].name: settings}
    if unknown := sorted(set(settings) - names):
        raise TypeError(f"settings for {', '.join(unknown)}, which is not a served plugin ({', '.join(sorted(names))})")
    return settings


@contextmanager
def serve_http(
    plugins: Plugin[Any, Any] | Sequence[Plugin[Any, Any]],
    *,
    settings: Mapping[str, Any] | None = None,
    resolver: Resolver | None = None,
    **sections: Any,
) -> Iterator[RunningHost]:
    """Run the real HTTP host (uvicorn) in a background thread on a free loopback port.

    `settings`: for one plugin, its settings by field name, as `connect` takes them (or, as for
    several, `{name: {field: value}}`); for several plugins, each one's by its name. `auth`, `egress`,
    `tenancy` and `documents` are those host sections' settings by field name; `resolver` replaces
    DNS for outbound requests; any other keyword is a `[host]` setting such as `stateless=True`.
    """
    chosen = [plugins] if isinstance(plugins, Plugin) else list(plugins)
    per_plugin = _per_plugin(chosen, settings or {})
    runtimes = [PluginRuntime(p, from_values(p.settings_model, per_plugin.get(p.name))) for p in chosen]
    named = {name: sections.pop(name) for name in ("auth", "egress", "tenancy", "documents") if name in sections}
    options = {"host": "127.0.0.1", "port": free_port(), **sections}
    host = Host(runtimes, HostConfig.of(host=options, **named), resolver=resolver)
    server = host.uvicorn_server()
    thread = threading.Thread(target=lambda: anyio.run(server.serve), name="toolpark-test-host", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the toolpark test host did not start; see the log above")
            time.sleep(0.02)
        yield RunningHost(f"http://{options['host']}:{options['port']}", host)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
