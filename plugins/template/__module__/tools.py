"""The {{name}} plugin's tools: plain typed functions whose docstrings are what the model reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from toolpark import ToolContext, ToolError

from {{module}}.plugin import Settings, State, plugin

Ctx = ToolContext[Settings, State]


class Greeting(BaseModel):
    message: str = Field(description="The greeting.")
    length: int = Field(description="Characters in the greeting.")
    times: int = Field(description="How often this server has greeted the name since it started.")


@plugin.tool(read_only=True)
async def greet(
    ctx: Ctx,
    name: Annotated[str, Field(min_length=1, max_length=100, description="Who to greet.")],
) -> Greeting:
    """Greet someone by name."""
    if name.strip() != name:
        raise ToolError("name must not start or end with spaces")
    ctx.state.greeted[name] += 1
    message = f"{ctx.settings.greeting}, {name}!"
    return Greeting(message=message, length=len(message), times=ctx.state.greeted[name])
