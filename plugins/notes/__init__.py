"""`notes`: an example plugin that keeps notes per tenant namespace.

It shows a lifespan holding state, per-tool scopes, and isolation through the tenant scope:
a caller reads and writes its own namespace, and shared ones only as its roles allow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import Field

from toolpark import Plugin, PluginSettings, ToolContext


class NotesSettings(PluginSettings):
    max_notes: int = Field(1000, ge=1, description="Notes kept per namespace; the oldest go first.")


Store = defaultdict[str, list[str]]
plugin: Plugin[NotesSettings, Store] = Plugin(
    "notes", version="0.1.0", description="Keeps short notes per user and per shared namespace.", settings=NotesSettings
)
Ctx = ToolContext[NotesSettings, Store]


@plugin.lifespan
async def open_store(settings: NotesSettings) -> AsyncIterator[Store]:
    yield defaultdict(list)


@plugin.tool(requires="notes:write", idempotent=False, destructive=False)
async def add_note(
    ctx: Ctx, text: Annotated[str, Field(min_length=1, max_length=10_000)], namespace: str | None = None
) -> str:
    """Add a note to your own namespace, or to a shared one you may write."""
    target = ctx.tenant.write(namespace)
    notes = ctx.state[target]
    notes.append(text)
    del notes[: -ctx.settings.max_notes]
    return f"noted in {target}"


@plugin.tool(read_only=True)
async def list_notes(ctx: Ctx, namespace: str | None = None) -> list[str]:
    """The notes of your own namespace, or of a shared one you may read."""
    return list(ctx.state[ctx.tenant.read(namespace)])
