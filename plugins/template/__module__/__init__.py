"""{{description}}"""

from __future__ import annotations

from typing import Annotated

from core import Plugin, PluginSettings, ToolContext, ToolError
from pydantic import BaseModel, Field


class Settings(PluginSettings):
    """Read from `{{env_prefix}}*` env vars and `[plugins.{{name}}]` in toolpark.toml."""

    greeting: str = Field("Hello", min_length=1, description="The word `greet` starts with.")


plugin: Plugin[Settings, None] = Plugin(
    "{{name}}",
    version="0.1.0",
    description="{{description}}",
    settings=Settings,
)


class Greeting(BaseModel):
    message: str = Field(description="The greeting.")
    length: int = Field(description="Characters in the greeting.")


@plugin.tool(read_only=True, idempotent=True)
async def greet(
    ctx: ToolContext[Settings, None],
    name: Annotated[str, Field(min_length=1, max_length=100, description="Who to greet.")],
) -> Greeting:
    """Greet someone by name."""
    if name.strip() != name:
        raise ToolError("name must not start or end with spaces")
    message = f"{ctx.settings.greeting}, {name}!"
    return Greeting(message=message, length=len(message))
