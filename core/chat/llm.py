"""A streaming client for OpenAI-compatible chat completions (vLLM, LiteLLM, Ollama, ...).

It reads the server-sent events of `/v1/chat/completions` with `stream: true`, hands each text
delta on as it arrives, and assembles tool calls from their fragments (a call's id and name come
first, its JSON arguments in pieces, keyed by the call's index).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from toolpark.clients import api_error

__all__ = ["ChatError", "Completion", "ToolCall", "stream_chat"]


class ChatError(Exception):
    """The chat endpoint could not be reached or refused the request; the message says why."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class Completion:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)

    def as_message(self) -> dict[str, Any]:
        """The assistant turn to send back with the next request."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                for c in self.tool_calls
            ]
        return message


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            payload, data = "\n".join(data), []
            if payload == "[DONE]":
                return
            yield json.loads(payload)
    if data and data != ["[DONE]"]:
        yield json.loads("\n".join(data))


async def stream_chat(
    client: httpx.AsyncClient,
    *,
    model: str,
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
    tool_choice: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    on_text: Callable[[str], None] = lambda _: None,
) -> Completion:
    """One streamed completion; `on_text` sees the answer as it is generated."""
    request: dict[str, Any] = {
        "model": model,
        "messages": list(messages),
        "stream": True,
    }
    if tools:
        request["tools"] = list(tools)
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    if temperature is not None:
        request["temperature"] = temperature
    completion = Completion()
    calls: dict[int, ToolCall] = {}
    try:
        async with client.stream("POST", "chat/completions", json=request) as response:
            if response.status_code != 200:
                raise ChatError("the chat endpoint answered " + api_error(response.status_code, await response.aread()))
            async for event in _events(response):
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if text := delta.get("content"):
                        completion.text += text
                        on_text(text)
                    for part in delta.get("tool_calls") or []:
                        call = calls.setdefault(part.get("index", len(calls)), ToolCall(id="", name=""))
                        call.id = part.get("id") or call.id
                        function = part.get("function") or {}
                        call.name += function.get("name") or ""
                        call.arguments += function.get("arguments") or ""
    except httpx.HTTPError as exc:
        raise ChatError(f"the chat endpoint is unreachable: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        raise ChatError("the chat endpoint's stream is not OpenAI server-sent events") from exc
    completion.tool_calls = [calls[i] for i in sorted(calls)]
    for number, call in enumerate(completion.tool_calls):
        call.id = call.id or f"call_{number}"
    return completion
