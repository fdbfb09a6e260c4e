"""Tenant isolation through the real HTTP host: users of one front end each see only their own notes,
and shared namespaces open by role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from toolpark.contract.identity import Identity
from toolpark.contract.settings import from_values
from toolpark.contract.tenancy import TenancySettings, TenantScope
from toolpark.plugins.notes import plugin as notes
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client

pytestmark = pytest.mark.anyio

FRONTEND = "tpk_librechat-key"


@pytest.fixture
def running(toolpark_http: Callable[..., RunningHost]) -> RunningHost:
    return toolpark_http(
        notes,
        auth={"api_keys": [{"name": "librechat", "hash": hash_key(FRONTEND), "scopes": ["notes:write"],
                            "trusted_frontend": True}]},
        tenancy={"readers": {"staff": ["handbook"]}, "writers": {"editor": ["handbook"]}},
    )  # fmt: skip


async def call(running: RunningHost, user: str, tool: str, roles: str = "", **arguments: Any) -> tuple[bool, Any]:
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": user, "X-User-Roles": roles}
    async with http_client(running.url("notes"), headers=headers) as client:
        result = await client.call_tool(tool, arguments)
    if result.is_error:
        return True, result.content[0].text  # type: ignore[union-attr]
    return False, (result.structured_content or {}).get("result")


async def test_two_users_each_see_only_their_own_notes(running: RunningHost) -> None:
    assert await call(running, "alice", "add_note", text="alice's secret") == (False, "noted in user:alice")
    assert await call(running, "bob", "add_note", text="bob's plan") == (False, "noted in user:bob")
    assert await call(running, "alice", "list_notes") == (False, ["alice's secret"])
    assert await call(running, "bob", "list_notes") == (False, ["bob's plan"])


async def test_reading_or_writing_another_users_namespace_is_refused(running: RunningHost) -> None:
    await call(running, "alice", "add_note", text="alice's secret")
    refused, message = await call(running, "bob", "list_notes", namespace="user:alice")
    assert refused and "'user:alice' is not readable for you" in message and "alice's secret" not in message
    refused, message = await call(running, "bob", "add_note", text="graffiti", namespace="user:alice")
    assert refused and "not writable" in message
    assert await call(running, "alice", "list_notes") == (False, ["alice's secret"])


async def test_shared_namespaces_open_by_role(running: RunningHost) -> None:
    assert await call(running, "erin", "add_note", roles="editor", text="policy v2", namespace="handbook") == (
        False,
        "noted in handbook",
    )
    assert await call(running, "sam", "list_notes", roles="staff", namespace="handbook") == (False, ["policy v2"])
    refused, _ = await call(running, "sam", "add_note", roles="staff", text="edit", namespace="handbook")
    assert refused
    refused, message = await call(running, "guest", "list_notes", namespace="handbook")
    assert refused and "Readable: user:guest" in message


def test_scope_helper_directly() -> None:
    rules = from_values(TenancySettings, {"readers": {"staff": ["handbook"]}})
    scope = TenantScope.of(Identity("u/1", "oidc", roles=frozenset({"staff"})), rules)
    assert scope.own == "user:u/1" and scope.readable == {"user:u/1", "handbook"} and scope.writable == {"user:u/1"}
    assert TenantScope.path(scope.own) == "user%3Au%2F1"
