"""A terminal agent: a chat model, the tools of one or more MCP endpoints, and the loop between them.

The model is offered every tool as an OpenAI function; each call it makes is executed over MCP and
its result goes back as a `tool` message, until the model answers in words or the rounds run out
(the last round then forbids tools, so there is always an answer). `toolpark chat` drives it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import httpx
from mcp import Client
from mcp.types import CallToolResult, TextContent

from toolpark.chat.llm import Completion, stream_chat
from toolpark.clients import http_client

__all__ = ["Agent", "Observer", "ToolRoute", "Toolbox", "default_observer", "result_text"]


class Observer(Protocol):
    """What the agent reports as it works: text as it streams, each tool call and its outcome."""

    def text(self, delta: str) -> None: ...
    def tool_call(self, name: str, arguments: str) -> None: ...
    def tool_result(self, name: str, seconds: float, is_error: bool, text: str) -> None: ...


@dataclass(frozen=True)
class ToolRoute:
    client: Client
    tool: str


_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


def _endpoint_name(url: str) -> str:
    """`retrieval` for http://host/retrieval/mcp; the host for a combined /mcp endpoint."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if len(parts) >= 2 and parts[-1] == "mcp":
        return parts[-2]
    return urlsplit(url).hostname or "mcp"


@dataclass
class Toolbox:
    """The tools of several MCP endpoints as one list of OpenAI functions."""

    routes: dict[str, ToolRoute] = field(default_factory=dict)
    functions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(
        cls, stack: AsyncExitStack, endpoints: Sequence[str], headers: Mapping[str, str] | None = None
    ) -> Toolbox:
        box = cls()
        for url in endpoints:
            client = await stack.enter_async_context(http_client(url, headers=headers, mode="legacy"))
            cursor: str | None = None
            while True:
                listing = await client.list_tools(cursor=cursor)
                for tool in listing.tools:
                    box._add(client, url, tool.name, tool.description or "", tool.input_schema, len(endpoints) > 1)
                if not (cursor := listing.next_cursor):
                    break
        return box

    def _add(
        self, client: Client, url: str, tool: str, description: str, schema: dict[str, Any], prefixed: bool
    ) -> None:
        # OpenAI function names allow [A-Za-z0-9_-]{1,64}; with several endpoints the endpoint
        # name goes first so two servers' `search` tools stay apart.
        name = f"{_endpoint_name(url)}__{tool}" if prefixed else tool
        name = _FUNCTION_NAME.sub("_", name)[:64]
        if name in self.routes:
            raise ValueError(f"two tools are both offered as {name!r}; connect the endpoints separately")
        self.routes[name] = ToolRoute(client, tool)
        parameters = {k: v for k, v in schema.items() if k != "$schema"}
        self.functions.append(
            {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
        )


def result_text(result: CallToolResult, limit: int) -> str:
    """What the model reads of a tool result: its text, the structured result when there is no
    text, a note for each image or other item it cannot read, cut at `limit` characters."""
    parts = []
    for item in result.content:
        parts.append(item.text if isinstance(item, TextContent) else f"[{item.type} content omitted]")
    if not any(isinstance(i, TextContent) for i in result.content) and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if len(text) > limit:
        text = text[:limit] + f"\n[cut at {limit} characters of {len(text)}]"
    return text


@dataclass
class Agent:
    llm: httpx.AsyncClient
    model: str
    toolbox: Toolbox
    observer: Observer
    system: str | None = None
    max_tool_rounds: int = 5
    tool_timeout_s: float = 120.0
    max_result_chars: int = 16_000
    max_tokens: int | None = None
    temperature: float | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.system:
            self.messages.append({"role": "system", "content": self.system})

    async def ask(self, question: str, *, tool_choice: str | None = None) -> str:
        """One user turn; `tool_choice` names a tool the model must call first."""
        if tool_choice is not None and tool_choice not in self.toolbox.routes:
            known = ", ".join(sorted(self.toolbox.routes)) or "none"
            raise ValueError(f"no tool named {tool_choice!r}; tools offered: {known}")
        self.messages.append({"role": "user", "content": question})
        # A named tool is forced as the one tool offered with "required": the object form
        # ({"type": "function", ...}) is refused by llama.cpp's server, which takes strings only.
        choice: str | None = "required" if tool_choice else None
        only = tool_choice
        for round_number in range(self.max_tool_rounds + 1):
            if round_number == self.max_tool_rounds:
                choice = "none"  # the rounds are spent: answer with what the tools gave
            completion = await self._complete(choice, only)
            self.messages.append(completion.as_message())
            if not completion.tool_calls:
                return completion.text
            for call in completion.tool_calls:
                self.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": await self._run(call.name, call.arguments)}
                )
            choice, only = None, None
        raise AssertionError("unreachable: the last round forbids tool calls")  # pragma: no cover

    async def _complete(self, choice: str | None, only: str | None) -> Completion:
        tools = [f for f in self.toolbox.functions if only in (None, f["function"]["name"])]
        return await stream_chat(
            self.llm,
            model=self.model,
            messages=self.messages,
            tools=tools,
            tool_choice=choice,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            on_text=self.observer.text,
        )

    async def _run(self, name: str, arguments: str) -> str:
        """Execute one call. Every failure becomes text the model reads, never an exception."""
        self.observer.tool_call(name, arguments)
        started = time.perf_counter()
        route = self.toolbox.routes.get(name)
        try:
            args = json.loads(arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            text, is_error = f"Error: the arguments are not a JSON object ({exc}); call the tool again.", True
        else:
            if route is None:
                text, is_error = f"Error: there is no tool named {name!r}.", True
            else:
                text, is_error = await self._call(route, args)
        self.observer.tool_result(name, time.perf_counter() - started, is_error, text)
        return text

    async def _call(self, route: ToolRoute, args: dict[str, Any]) -> tuple[str, bool]:
        try:
            with anyio.fail_after(self.tool_timeout_s):
                result = await route.client.call_tool(route.tool, args)
        except TimeoutError:
            return f"Error: the tool did not answer within {self.tool_timeout_s:g} s.", True
        except Exception as exc:  # a transport or protocol failure: the model may try something else
            return f"Error: the call failed: {type(exc).__name__}: {exc}", True
        return result_text(result, self.max_result_chars), bool(result.is_error)


def _one_line(arguments: str) -> str:
    """Arguments as compact JSON on one line (models often indent theirs), or as sent if not JSON."""
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False)
    except ValueError:
        return " ".join(arguments.split())


def default_observer(write: Callable[[str], None], trace: Callable[[str], None]) -> Observer:
    """Answer text to `write` as it streams; one line per tool call and result to `trace`."""

    class _Printer:
        def text(self, delta: str) -> None:
            write(delta)

        def tool_call(self, name: str, arguments: str) -> None:
            trace(f"→ {name} {_one_line(arguments or '{}')}")

        def tool_result(self, name: str, seconds: float, is_error: bool, text: str) -> None:
            preview = " ".join(text.split())[:160]
            trace(f"← {name} {'error' if is_error else 'ok'} in {seconds * 1000:.0f} ms: {preview}")

    return _Printer()
