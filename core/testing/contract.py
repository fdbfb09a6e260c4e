"""What any MCP server must do, checked against a plugin served by the real HTTP host.

`toolpark plugin new` generates a test that calls `check_mcp_contract`; toolpark runs the same
checks on its own servers. Both protocol eras: the 2025-11-25 `initialize` handshake and the
2026-07-28 per-request `server/discover`. Every tool schema must be valid JSON Schema 2020-12 (the
dialect MCP names), a call with bad arguments must be an `isError` result naming the field, and with
authentication on, a request without credentials gets the 401 with its challenge (and, with OIDC, the
RFC 9728 metadata URL it points at).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from mcp import Client

from toolpark.clients import http_client
from toolpark.host.schemas import grammar_safe

__all__ = ["check_mcp_contract"]

ERAS = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}


async def check_mcp_contract(url: str, *, headers: Mapping[str, str] | None = None, oidc: bool = False) -> None:
    """Assert the contract on the endpoint `url`; `headers` authenticate (the 401 is checked when given),
    `oidc` says the host takes OIDC tokens and so must publish its resource metadata."""
    listings = []
    for mode, version in ERAS.items():
        async with http_client(url, headers=headers, mode=mode) as client:
            assert client.protocol_version == version, f"{mode}: negotiated {client.protocol_version}"
            listings.append(await _check_tools(client))
    assert listings[0] == listings[1], "the tools differ between the protocol eras"
    if headers:
        _check_refusal(url, oidc)


async def _check_tools(client: Client) -> list[str]:
    tools = (await client.list_tools()).tools
    assert tools, "the server lists no tools"
    for tool in tools:
        for kind, schema in (("input", tool.input_schema), ("output", tool.output_schema)):
            if schema is not None:
                Draft202012Validator.check_schema(schema)  # raises SchemaError naming the fault
                assert schema.get("type") == "object", f"{tool.name}: the {kind} schema is not an object"
        assert grammar_safe(tool.input_schema) == tool.input_schema, (
            f"{tool.name}: a maxLength llama.cpp cannot compile"
        )
        assert tool.description, f"{tool.name} has no description for the model to read"
        required = tool.input_schema.get("required", [])
        if required:  # leaving out a required argument is the bad call every tool can be given
            result = await client.call_tool(tool.name, {})
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert result.is_error, f"{tool.name} accepted a call without {required}"
            assert any(name in text for name in required), f"{tool.name}'s error names no field: {text}"
    return sorted(tool.name for tool in tools)


def _check_refusal(url: str, oidc: bool) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    refused = httpx.post(url, json=message, headers={"Accept": "application/json, text/event-stream"})
    assert refused.status_code == 401, f"no credentials got HTTP {refused.status_code}, not 401"
    challenge = refused.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer "), f"the 401 has no Bearer challenge: {challenge!r}"
    if oidc:
        assert 'resource_metadata="' in challenge, "the 401 does not point at the resource metadata"
        where = challenge.split('resource_metadata="')[1].split('"')[0]
        document = httpx.get(where).json()
        assert document["resource"] == url and document["authorization_servers"], document
