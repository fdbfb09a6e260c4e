"""The `mcpServers` block LibreChat needs to reach toolpark endpoints, ready to paste."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["mcp_servers_block"]


def mcp_servers_block(endpoints: Mapping[str, str], *, timeout_ms: int = 60_000) -> str:
    """YAML for `librechat.yaml`: one streamable-HTTP server per endpoint.

    LibreChat refuses MCP servers on private addresses unless `mcpSettings.allowedAddresses`
    lists their `host:port`, so the block carries that list too. Strings are JSON-quoted,
    which YAML reads as the same strings.
    """
    lines = ["mcpSettings:", "  allowedAddresses:"]
    addresses = sorted({urlsplit(url).netloc for url in endpoints.values()})
    lines += [f"    - {json.dumps(address)}" for address in addresses]
    lines.append("mcpServers:")
    for name, url in endpoints.items():
        lines += [
            f"  {name}:",
            "    type: streamable-http",
            f"    url: {json.dumps(url)}",
            f"    timeout: {timeout_ms}",
        ]
    return "\n".join(lines) + "\n"
