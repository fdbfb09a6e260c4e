"""Questions to the client across protocol eras: the multi-round-trip fixtures the 2026-07-28
conformance scenarios name (SEP-2322), written with the same `ctx.elicit` / `ctx.sample` /
`ctx.roots` every tool uses. Two fixtures test the wire shape itself (several questions at once,
questions chosen by the client's capabilities) and so build the `InputRequiredResult` by hand.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    SamplingMessage,
    TextContent,
)
from pydantic import BaseModel, Field

from toolpark import ToolContext
from toolpark.plugins.everything.plugin import EverythingSettings, plugin

Ctx = ToolContext[EverythingSettings, None]


class NameForm(BaseModel):
    name: str


class ColourForm(BaseModel):
    color: str


class ConfirmForm(BaseModel):
    ok: bool


class DeleteForm(BaseModel):
    confirm: bool


@plugin.tool(read_only=True)
async def test_input_required_result_elicitation(ctx: Ctx) -> str:
    """Tests InputRequiredResult with a single elicitation request"""
    answer = await ctx.elicit("What is your name?", NameForm, key="user_name")
    return f"Hello, {answer.data.name if answer.action == 'accept' else 'stranger'}!"


@plugin.tool(read_only=True, open_world=True)
async def test_input_required_result_sampling(ctx: Ctx) -> str:
    """Tests InputRequiredResult with a single sampling request"""
    text = await ctx.sample("What is the capital of France?", max_tokens=100, key="capital_question")
    return f"Model said: {text}"


@plugin.tool(read_only=True)
async def test_input_required_result_list_roots(ctx: Ctx) -> str:
    """Tests InputRequiredResult with a single roots/list request"""
    roots = await ctx.roots(key="client_roots")
    return f"Client exposed {len(roots)} root(s)."


@plugin.tool(read_only=True)
async def test_input_required_result_request_state(ctx: Ctx) -> str:
    """Tests requestState round-tripping in the InputRequiredResult flow"""
    await ctx.elicit("Please confirm", ConfirmForm, key="confirm")
    return "state-ok: confirmation received"


@plugin.tool(read_only=True)
async def test_input_required_result_multi_round(ctx: Ctx) -> str:
    """Tests a three-round InputRequiredResult flow with evolving requestState"""
    name = await ctx.elicit("Step 1: What is your name?", NameForm, key="step1")
    colour = await ctx.elicit("Step 2: What is your favorite color?", ColourForm, key="step2")
    who = name.data.name if name.action == "accept" else "someone"
    return f"{who} likes {colour.data.color if colour.action == 'accept' else 'nothing'}."


@plugin.tool(read_only=True)
async def test_input_required_result_tampered_state(ctx: Ctx) -> str:
    """Tests that the server rejects a tampered requestState echo (the SDK's seal checks it)"""
    await ctx.elicit("Please confirm", ConfirmForm, key="confirm")
    return "state-ok: the sealed state came back intact"


@plugin.tool(read_only=True, open_world=True)
async def test_missing_capability(ctx: Ctx) -> str:
    """Tests the -32021 error for a question the client did not declare it can answer (sampling)"""
    return f"Model said: {await ctx.sample('Say hello', max_tokens=20, key='hello')}"


_NAME_QUESTION = ElicitRequest(
    params=ElicitRequestFormParams(
        message="What is your name?",
        requested_schema={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    )
)


def _sampling(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


@plugin.tool(read_only=True)
async def test_input_required_result_multiple_inputs(ctx: Ctx) -> str | InputRequiredResult:
    """Tests InputRequiredResult carrying elicitation, sampling and roots requests together"""
    if {"user_name", "greeting", "client_roots"} <= (ctx.sdk.input_responses or {}).keys():
        return "All inputs received."
    questions: dict[str, InputRequest] = {
        "user_name": _NAME_QUESTION,
        "greeting": _sampling("Generate a greeting", 50),
        "client_roots": ListRootsRequest(),
    }
    return InputRequiredResult(input_requests=questions, request_state="multiple-inputs")


@plugin.tool(read_only=True)
async def test_input_required_result_capabilities(ctx: Ctx) -> InputRequiredResult:
    """Tests that inputRequests only include methods the client declared support for"""
    declared = ctx.sdk.client_capabilities
    questions: dict[str, InputRequest] = {}
    if declared is None or declared.sampling is not None:
        questions["sample"] = _sampling("Say hello", 50)
    if declared is None or declared.elicitation is not None:
        questions["ask"] = _NAME_QUESTION
    return InputRequiredResult(input_requests=questions, request_state="capability-gated")


@plugin.tool(read_only=True)
async def test_x_mcp_header(
    region: Annotated[
        str,
        Field(description="Mirrored into the Mcp-Param-Region header", json_schema_extra={"x-mcp-header": "Region"}),
    ] = "<none>",
) -> str:
    """Tests SEP-2243 Mcp-Param-* headers, which the server checks against the arguments"""
    return f"region={region}"


@plugin.prompt()
async def test_input_required_result_prompt(ctx: Context[Any, Any]) -> list[UserMessage] | InputRequiredResult:
    """A prompt that asks the client for context first (SEP-2322)"""
    answer = (ctx.input_responses or {}).get("user_context")
    if isinstance(answer, ElicitResult) and answer.action == "accept" and answer.content:
        return [
            UserMessage(role="user", content=TextContent(type="text", text=f"Context: {answer.content['context']}"))
        ]
    question = ElicitRequest(
        params=ElicitRequestFormParams(
            message="What context should the prompt use?",
            requested_schema={"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]},
        )
    )
    return InputRequiredResult(input_requests={"user_context": question})


@plugin.tool(read_only=True)
async def test_trigger_tool_change(ctx: Ctx) -> str:
    """Announces that the tool listing changed (SEP-2575 subscriptions)"""
    await ctx.tools_changed()
    return "tool list changed"


@plugin.tool(read_only=True)
async def test_trigger_prompt_change(ctx: Ctx) -> str:
    """Announces that the prompt listing changed (SEP-2575 subscriptions)"""
    await ctx.prompts_changed()
    return "prompt list changed"
