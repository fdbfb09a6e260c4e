"""What a tool can send the client through its context: logs at the client's level, resource updates,
sampling and elicitation requests."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from toolpark.plugins.everything import plugin
from toolpark.testing import connect

pytestmark = pytest.mark.anyio


async def test_logs_honour_the_level_the_client_set() -> None:
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with connect(plugin, mode="legacy", logging_callback=on_log) as client:
        await client.set_logging_level("warning")
        await client.call_tool("test_tool_with_logging", {})
        quiet = len(received)
        await client.set_logging_level("info")
        await client.call_tool("test_tool_with_logging", {})
    assert quiet == 0
    assert [p.data for p in received] == ["Tool execution started", "Tool processing data", "Tool execution completed"]
    assert {p.logger for p in received} == {"everything"}


async def test_subscribers_hear_of_resource_updates() -> None:
    updates: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with connect(plugin, mode="legacy", message_handler=on_message) as client:
        await client.call_tool("touch_watched_resource", {})
        await client.subscribe_resource("test://watched-resource")
        await client.call_tool("touch_watched_resource", {})
        await client.unsubscribe_resource("test://watched-resource")
        await client.call_tool("touch_watched_resource", {})
        await anyio.sleep(0.1)
    assert updates == ["test://watched-resource"]


async def test_sampling_goes_to_the_client_model() -> None:
    prompts: list[str] = []

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        prompts.append(params.messages[0].content.text)  # type: ignore[union-attr]
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="m"
        )

    async with connect(plugin, mode="legacy", sampling_callback=sample) as client:
        result = await client.call_tool("test_sampling", {"prompt": "meaning of life?"})
    assert prompts == ["meaning of life?"]
    assert result.content[0].text == "LLM response: forty-two"  # type: ignore[union-attr]


async def test_elicitation_returns_the_validated_answer() -> None:
    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"response": "yes please"})

    async with connect(plugin, mode="legacy", elicitation_callback=answer) as client:
        result = await client.call_tool("test_elicitation", {"message": "Proceed?"})
    assert result.content[0].text == 'User response: action=accept, content={"response":"yes please"}'  # type: ignore[union-attr]


async def test_progress_tool_returns_the_clients_progress_token() -> None:
    seen: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    async with connect(plugin, mode="legacy") as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert not result.is_error and seen == [0, 50, 100]
    assert result.content[0].text.isdigit()  # type: ignore[union-attr]
