"""An MCP client for a toolpark HTTP endpoint that sends headers with every request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client

__all__ = ["http_client"]


def http_client(url: str, *, headers: Mapping[str, str] | None = None, **client_options: Any) -> Client:
    """An MCP SDK `Client` for a streamable HTTP `url` that sends `headers` with every request
    (an `Authorization` header, or the `X-User-*` headers a front end adds)."""

    @asynccontextmanager
    async def transport() -> AsyncIterator[TransportStreams]:
        # The SDK's own timeouts for MCP: a long read, since a server may hold a stream open.
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with (
            httpx2.AsyncClient(headers=dict(headers or {}), timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    return Client(transport(), **client_options)
