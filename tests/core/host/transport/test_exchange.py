"""Stateless JSON mode's own call path (`toolpark.host.transport.exchange`): it must answer every request as
the SDK's path answers it in a session, and hand what it does not serve to the SDK unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from toolpark.plugins.everything import plugin as everything
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, post_initialize

KEY = "tpk_exchange"
AUTH = {"api_keys": [{"name": "ops", "hash": hash_key(KEY)}]}
HEADERS = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {KEY}"}
VERSION = "2025-11-25"
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("tools/call", {"name": "greet", "arguments": {"name": "Ada"}}),
    ("tools/call", {"name": "greet", "arguments": {}}),  # a missing argument: the tool's own error result
    ("tools/call", {"name": "no_such_tool", "arguments": {}}),
    ("tools/call", {"name": "greet", "arguments": "not an object"}),  # invalid params: a JSON-RPC error
    ("tools/list", {}),
    ("resources/read", {"uri": "test://static-text"}),
    ("prompts/list", {}),
    ("ping", {}),
    ("no/such/method", {}),
]


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON body or of the last `data:` line of an SSE stream."""
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json())
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return dict(json.loads(data[-1]))


def _in_a_session(url: str) -> list[dict[str, Any]]:
    """The answers of the SDK's session path (default mode) to REQUESTS."""
    with httpx.Client(headers=HEADERS) as http:
        opened = post_initialize(url, VERSION, **HEADERS)
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": VERSION}
        http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        return [
            _message(http.post(url, json={"jsonrpc": "2.0", "id": n, "method": m, "params": p}, headers=session))
            for n, (m, p) in enumerate(REQUESTS)
        ]


def test_answers_match_the_sdk_session_path(toolpark_http: Callable[..., RunningHost]) -> None:
    stateless = toolpark_http(everything, auth=AUTH, stateless=True, json_response=True).url("everything")
    expected = _in_a_session(toolpark_http(everything, auth=AUTH).url("everything"))
    with httpx.Client(headers=HEADERS | {"MCP-Protocol-Version": VERSION}) as http:
        for n, (method, params) in enumerate(REQUESTS):
            response = http.post(stateless, json={"jsonrpc": "2.0", "id": n, "method": method, "params": params})
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            assert response.json() == expected[n], method
    assert expected[0]["result"]["content"][0]["text"] == "Hello, Ada!"
    assert expected[3]["error"]["code"] == -32602 and expected[8]["error"]["code"] == -32601


def test_what_it_does_not_serve_goes_to_the_sdk(toolpark_http: Callable[..., RunningHost]) -> None:
    url = toolpark_http(everything, auth=AUTH, stateless=True, json_response=True).url("everything")
    opened = post_initialize(url, VERSION, **HEADERS)
    assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
    assert opened.json()["result"]["protocolVersion"] == VERSION
    with httpx.Client(headers=HEADERS) as http:
        notified = http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        broken = http.post(
            url, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers={"Content-Type": "application/json"}
        )
        batch = http.post(url, json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        anonymous = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Accept": HEADERS["Accept"]}
        )
        huge = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y" * 5_000_000}})
    assert notified.status_code == 202
    assert broken.status_code == 400 and broken.json()["error"]["code"] == -32700
    assert batch.status_code == 400
    assert anonymous.status_code == 401
    assert huge.status_code == 413
