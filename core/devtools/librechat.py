"""LibreChat's view of toolpark endpoints: `mcpServers` entries and the address allowlist.

`toolpark up` prints these for pasting; `toolpark compose render` builds the whole
`librechat.yaml` around them. LibreChat refuses MCP servers (and custom endpoints) on private
addresses unless `allowedAddresses` lists their `host:port`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = ["allowed_addresses", "mcp_server", "mcp_servers_block"]


def allowed_addresses(urls: Iterable[str]) -> list[str]:
    """`host:port` of each URL (the scheme's default port when it names none), sorted, once each."""
    found = set()
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found.add(f"{parts.hostname}:{port}")
    return sorted(found)


def mcp_server(
    url: str,
    *,
    timeout_ms: int = 60_000,
    headers: Mapping[str, str] | None = None,
    server_instructions: str | bool | None = None,
) -> dict[str, Any]:
    """One streamable-HTTP entry of `mcpServers`."""
    entry: dict[str, Any] = {"type": "streamable-http", "url": url, "timeout": timeout_ms}
    if headers:
        entry["headers"] = dict(headers)
    if server_instructions is not None:
        entry["serverInstructions"] = server_instructions
    return entry


def mcp_servers_block(endpoints: Mapping[str, str], *, timeout_ms: int = 60_000) -> str:
    """YAML for `librechat.yaml`: one streamable-HTTP server per endpoint, and the allowlist."""
    config = {
        "mcpSettings": {"allowedAddresses": allowed_addresses(endpoints.values())},
        "mcpServers": {name: mcp_server(url, timeout_ms=timeout_ms) for name, url in endpoints.items()},
    }
    return yaml.safe_dump(config, sort_keys=False)
