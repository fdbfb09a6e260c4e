"""Raw 2026-07-28 requests of the tasks extension over HTTP, so the wire itself is what tests check."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost

TASKS = "io.modelcontextprotocol/tasks"
KEYS = {"ada": "tpk_ada-secret-1", "bob": "tpk_bob-secret-2"}
AUTH = {"api_keys": [{"name": name, "hash": hash_key(key)} for name, key in KEYS.items()]}


def request(target: RunningHost | str, who: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One 2026-07-28 request by `who` to `everything` on a host (or at a URL), declaring the tasks
    extension; the JSON-RPC response."""
    with stream(target, who, method, params) as response:
        response.read()
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        return json.loads(data[-1])  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


@contextmanager
def stream(target: RunningHost | str, who: str, method: str, params: dict[str, Any]) -> Iterator[httpx.Response]:
    """The same request, its response read as it comes (a `subscriptions/listen` stream)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}, "elicitation": {"form": {}}},
    }
    named = params.get("name") or params.get("taskId")
    headers = {
        "Authorization": f"Bearer {KEYS[who]}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": method,
        **({"Mcp-Name": named} if named and named.isprintable() else {}),  # NUL: in the body alone
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    url = target if isinstance(target, str) else target.url("everything")
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        yield response


def start(target: RunningHost | str, who: str, seconds: float) -> dict[str, Any]:
    return request(target, who, "tools/call", {"name": "slow_compute", "arguments": {"seconds": seconds}})["result"]


def get(target: RunningHost | str, who: str, task_id: str) -> dict[str, Any]:
    return request(target, who, "tasks/get", {"taskId": task_id})


def settled(target: RunningHost | str, who: str, task_id: str) -> dict[str, Any]:
    for _ in range(200):
        task = get(target, who, task_id)["result"]
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        time.sleep(0.05)
    pytest.fail(f"task {task_id} did not end")
