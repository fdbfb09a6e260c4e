"""Objects in an owner-tagged folder (`Access.owner_tags`): each caller's own, by the tag on each.

A front end that keeps every user's uploads in one folder (Open WebUI) names the owner in a tag on
each object; reading that tag is one request per object, so a read checks its object's, and a
listing reads the tags of what it would show (as many at once as the client allows).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from toolpark.contract.errors import ToolError
from toolpark.storage.client import S3Client
from toolpark.storage.policy import Access

__all__ = ["check_owner", "owned"]


async def check_owner(client: S3Client, rules: Access, bucket: str, key: str) -> None:
    """Nothing, when the caller may read `key` as far as owner tags go; a ToolError otherwise."""
    tag = rules.owner_tag(key)
    if tag is not None and (await client.tags(bucket, key)).get(tag) != rules.identity.subject:
        raise ToolError(f"Object {key!r} in {bucket!r} is outside what you may read.")


async def owned(client: S3Client, rules: Access, bucket: str, keys: Sequence[str]) -> set[str]:
    """Those of `keys` the caller may see as far as owner tags go (a folder in a tagged one: none)."""
    seen = {key for key in keys if rules.owner_tag(key) is None}
    tagged = [key for key in keys if key not in seen and not key.endswith("/")]

    async def check(key: str) -> None:
        try:
            await check_owner(client, rules, bucket, key)
        except ToolError:
            return
        seen.add(key)

    async with anyio.create_task_group() as group:
        for key in tagged:
            group.start_soon(check, key)
    return seen
