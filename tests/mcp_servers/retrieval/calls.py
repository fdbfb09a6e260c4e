"""What the retrieval tests share: the texts they ingest, and calls to the server as LibreChat makes
them (its trusted-front-end key, the user named in X-User-* headers)."""

from __future__ import annotations

from typing import Any

from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client

FRONTEND = "tpk_frontend"
FRONTEND_KEYS = {"api_keys": [{"name": "librechat", "hash": hash_key(FRONTEND), "trusted_frontend": True}]}
GENERIC = [
    f"Widget model {n} is a reliable household device. It is easy to clean and it comes with a two-year "
    f"warranty. Customers like its quiet motor and its compact design for small kitchens."
    for n in range(30)
]
NEEDLE = "If the display shows error E4711, the widget motor has overheated and needs a ten minute pause."


async def call(running: RunningHost, tool: str, user: str = "alice", roles: str = "", **arguments: Any) -> Any:
    headers = {"Authorization": f"Bearer {FRONTEND}", "X-User-ID": user, "X-User-Roles": roles}
    async with http_client(running.url("retrieval"), headers=headers) as client:
        return await client.call_tool(tool, arguments)


def text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if b.type == "text")


async def collection_with(running: RunningHost, name: str, user: str = "alice", **documents: str) -> None:
    created = await call(running, "create_collection", user=user, name=name)
    assert not created.is_error, text(created)
    for source, body in documents.items():
        added = await call(running, "ingest", user=user, collection=name, text=body, source_uri=source, title=source)
        assert not added.is_error, text(added)
