"""Tools that run as tasks (the tasks extension, SEP-2663), named as the conformance scenarios expect."""

from __future__ import annotations

from typing import Annotated

import anyio
from pydantic import Field

from toolpark import ToolContext, ToolError
from toolpark.plugins.everything.plugin import EverythingSettings, plugin
from toolpark.plugins.everything.rounds import DeleteForm, NameForm

Ctx = ToolContext[EverythingSettings, None]


@plugin.tool(read_only=True, idempotent=True)
async def greet(name: str) -> str:
    """Greets someone; never a task"""
    return f"Hello, {name}!"


@plugin.tool(read_only=True, task=True)
async def slow_compute(
    ctx: Ctx, seconds: Annotated[float, Field(ge=0, le=600)], label: Annotated[str, Field(max_length=200)] = ""
) -> str:
    """Sleeps `seconds`, as a task, then says so"""
    await ctx.background()
    await anyio.sleep(seconds)
    return f"{label or 'slow_compute'}: done after {seconds:g} s"


@plugin.tool(read_only=True, task="required")
async def failing_job(ctx: Ctx) -> str:
    """Runs only as a task and ends with a tool error"""
    await ctx.background()
    await anyio.sleep(1)
    raise ToolError("failing_job failed, as it always does")


@plugin.tool(read_only=True, task=True)
async def protocol_error_job(ctx: Ctx) -> str:
    """Runs as a task and crashes (a protocol-level failure)"""
    await ctx.background()
    raise RuntimeError("protocol_error_job crashed on purpose")


@plugin.tool(destructive=True, task=True)
async def confirm_delete(ctx: Ctx, filename: Annotated[str, Field(max_length=200)]) -> str:
    """Runs as a task that asks for confirmation before it 'deletes' `filename`"""
    await ctx.background()
    answer = await ctx.elicit(f"Delete {filename}?", DeleteForm)
    confirmed = answer.action == "accept" and answer.data.confirm
    return f"{filename}: {'deleted' if confirmed else 'kept'}"


@plugin.tool(read_only=True, task=True)
async def multi_input(ctx: Ctx) -> str:
    """Runs as a task that asks two questions at once"""
    await ctx.background()
    answers: dict[str, str] = {}

    async def ask(message: str) -> None:
        answer = await ctx.elicit(message, NameForm)
        answers[message] = answer.data.name if answer.action == "accept" else "?"

    async with anyio.create_task_group() as group:
        group.start_soon(ask, "First name?")
        group.start_soon(ask, "Second name?")
    return f"{answers['First name?']} and {answers['Second name?']}"


@plugin.tool(read_only=True, task="required")
async def test_tool_with_task(ctx: Ctx) -> str:
    """Asks for a name in the request (multi-round trip), then carries on as a task"""
    answer = await ctx.elicit("What is your name?", NameForm, key="user_name")
    name = answer.data.name if answer.action == "accept" else "stranger"
    await ctx.background()
    await anyio.sleep(0.2)
    return f"Hello, {name}, from a task"
