"""One caller cannot exhaust the host's sessions: each identity (or anonymous address) has a quota."""

from __future__ import annotations

import time

import httpx
import pytest

from toolpark.plugins.everything import plugin as everything
from toolpark.security.keys import hash_key
from toolpark.testing import http_client, post_initialize, serve_http

KEYS = {
    "api_keys": [{"name": "greedy", "hash": hash_key("tpk_greedy")}, {"name": "fair", "hash": hash_key("tpk_fair")}]
}


def open_session(url: str, key: str) -> httpx.Response:
    return post_initialize(url, Authorization=f"Bearer {key}")


@pytest.mark.anyio
async def test_a_caller_over_its_quota_is_refused_and_others_are_not() -> None:
    with serve_http(everything, auth=KEYS, sessions_per_caller=3) as running:
        url = running.url("everything")
        opened = [open_session(url, "tpk_greedy") for _ in range(3)]
        refused = open_session(url, "tpk_greedy")
        assert all(r.status_code == 200 and r.headers["mcp-session-id"] for r in opened)
        assert refused.status_code == 429 and "Too many open sessions from you (3)" in refused.text
        async with http_client(url, headers={"Authorization": "Bearer tpk_fair"}) as client:
            assert (await client.call_tool("test_simple_text", {})).content  # another caller still gets in
        session = {"Authorization": "Bearer tpk_greedy", "mcp-session-id": opened[0].headers["mcp-session-id"]}
        async with httpx.AsyncClient() as http:
            closed = await http.delete(url, headers=session)
        assert closed.status_code == 200
        assert open_session(url, "tpk_greedy").status_code == 200  # a closed session frees its place
        metrics = (await running.get("/metrics")).text
        assert 'toolpark_sessions_refused_total{endpoint="everything"} 1.0' in metrics


def test_anonymous_callers_are_counted_by_address() -> None:
    with serve_http(everything, sessions_per_caller=2) as running:
        url = running.url("everything")
        statuses = [post_initialize(url).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_idle_sessions_are_reaped_and_free_their_place() -> None:
    with serve_http(everything, sessions_per_caller=1, session_idle_s=0.5) as running:
        url = running.url("everything")
        assert post_initialize(url).status_code == 200
        assert post_initialize(url).status_code == 429
        time.sleep(1.5)
        assert post_initialize(url).status_code == 200
