"""HTTP clients: an MCP client for a toolpark endpoint that sends headers with every request, and a
plain client for the operator's own APIs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from toolpark.sdk import TransportStreams

__all__ = ["api_client", "api_error", "http_client", "probe"]


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


def api_client(base_url: str, api_key: SecretStr | None = None, *, timeout_s: float = 60.0) -> httpx.AsyncClient:
    """An HTTP client for an operator's own API (an OpenAI-compatible endpoint, say): requests resolve
    against `base_url`, with a bearer key when one is set. Such services are configured, not
    user-supplied, so they are reached directly rather than through the egress policy."""
    key = api_key.get_secret_value() if api_key else None
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {key}"} if key else {},
        timeout=timeout_s,
    )


def api_error(status: int, body: bytes) -> str:
    """Why an OpenAI-compatible API refused a request: the `error.message` vLLM, LiteLLM and
    OpenAI send (e.g. "... is not a multimodal model"), else the start of the body."""
    message = None
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        pass
    return f"HTTP {status}: {message or body[:300].decode(errors='replace') or 'no reason given'}"


async def probe(client: httpx.AsyncClient, what: str, path: str = "models", *, timeout_s: float = 3.0) -> None:
    """A readiness probe for an operator's API: raise, naming `what` and where it is, unless GET `path`
    answers within `timeout_s` with anything but a server error (a 401 or 404 still means it is up)."""
    try:
        response = await client.get(path, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"the {what} at {client.base_url} does not answer ({type(exc).__name__})") from exc
    if response.status_code >= 500:
        raise RuntimeError(f"the {what} at {client.base_url} answers HTTP {response.status_code}")
