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


ERAS = ["legacy", "2026-07-28"]  # a server-to-client request; a multi-round trip


@pytest.mark.parametrize("mode", ERAS)
async def test_sampling_goes_to_the_client_model(mode: str) -> None:
    prompts: list[str] = []

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        prompts.append(params.messages[0].content.text)  # type: ignore[union-attr]
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="m"
        )

    async with connect(plugin, mode=mode, sampling_callback=sample) as client:
        result = await client.call_tool("test_sampling", {"prompt": "meaning of life?"})
    assert prompts == ["meaning of life?"]
    assert result.content[0].text == "LLM response: forty-two"  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ERAS)
async def test_elicitation_returns_the_validated_answer(mode: str) -> None:
    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"response": "yes please"})

    async with connect(plugin, mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("test_elicitation", {"message": "Proceed?"})
    assert result.content[0].text == 'User response: action=accept, content={"response":"yes please"}'  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ERAS)
async def test_each_question_is_asked_once_however_many_rounds(mode: str) -> None:
    """The same tool code asks two questions in turn; on 2026-07-28 it runs three times, and the
    first answer comes back from the request state rather than being asked again."""
    asked: list[str] = []

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        reply = {"name": "Ada"} if "name" in params.message else {"color": "blue"}
        return types.ElicitResult(action="accept", content=reply)

    async with connect(plugin, mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
    assert result.content[0].text == "Ada likes blue."  # type: ignore[union-attr]
    assert asked == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]


async def test_a_declined_question_reaches_the_tool_and_a_misfit_answer_is_a_clear_error() -> None:
    async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def misfit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"nom": "Ada"})

    async with connect(plugin, mode="2026-07-28", elicitation_callback=decline) as client:
        declined = await client.call_tool("test_input_required_result_elicitation", {})
    assert declined.content[0].text == "Hello, stranger!"  # type: ignore[union-attr]
    async with connect(plugin, mode="2026-07-28", elicitation_callback=misfit) as client:
        wrong = await client.call_tool("test_input_required_result_elicitation", {})
    assert wrong.is_error and "did not fit the form" in wrong.content[0].text  # type: ignore[union-attr]


async def test_clients_hear_when_the_tool_listing_changes() -> None:
    heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification | types.PromptListChangedNotification):
            heard.append(message.method)

    async with connect(plugin, mode="legacy", message_handler=on_message) as client:
        await client.call_tool("test_trigger_tool_change", {})
        await client.call_tool("test_trigger_prompt_change", {})
        await anyio.sleep(0.1)
    assert heard == ["notifications/tools/list_changed", "notifications/prompts/list_changed"]


async def test_progress_tool_returns_the_clients_progress_token() -> None:
    seen: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    async with connect(plugin, mode="legacy") as client:
        result = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert not result.is_error and seen == [0, 50, 100]
    assert result.content[0].text.isdigit()  # type: ignore[union-attr]
