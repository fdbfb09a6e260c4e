"""`toolpark chat`: talk to a chat model that can use toolpark tools, from a terminal or a script.

The answer streams to stdout; each tool call, with its arguments, outcome and time, goes to
stderr, so `--once` output can be piped while the trace stays visible.
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio
import click

if TYPE_CHECKING:
    import httpx

__all__ = ["chat"]


async def _first_model(llm: httpx.AsyncClient) -> str:
    import httpx

    try:
        response = await llm.get("models")
        response.raise_for_status()
        return str(response.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise click.ClickException(f"could not list the chat endpoint's models ({exc}); pass --model") from exc


async def _prompt() -> str | None:
    """The next question from the terminal; None at end of input."""
    try:
        return await anyio.to_thread.run_sync(lambda: input("you> "))
    except EOFError:
        return None


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _trace(line: str) -> None:
    click.echo(line, err=True)


@click.command()
@click.option("--llm-url", envvar="TOOLPARK_CHAT_LLM_URL", required=True,
              help="OpenAI-compatible base URL, e.g. http://gpu:8000/v1 (or TOOLPARK_CHAT_LLM_URL).")  # fmt: skip
@click.option("--llm-key", envvar="TOOLPARK_CHAT_LLM_KEY", help="Bearer key for the chat endpoint.")
@click.option("--model", envvar="TOOLPARK_CHAT_MODEL", help="Model name; default: the first the endpoint lists.")
@click.option("--mcp", "endpoints", multiple=True, required=True,
              help="A toolpark MCP endpoint, e.g. http://127.0.0.1:8765/retrieval/mcp; repeat for more.")  # fmt: skip
@click.option("--mcp-key", envvar="TOOLPARK_API_KEY", help="Bearer key for the MCP endpoints (or TOOLPARK_API_KEY).")
@click.option("--once", "question", help="Ask one question, print the answer, exit.")
@click.option("--tool-choice", help="A tool the model must call first (for small models, and for tests).")
@click.option("--system", help="System prompt.")
@click.option("--max-tool-rounds", default=5, show_default=True, type=click.IntRange(0, 50),
              help="Rounds of tool calls before the model must answer.")  # fmt: skip
@click.option("--max-tokens", type=click.IntRange(1), help="Most tokens per model reply.")
@click.option("--temperature", type=click.FloatRange(0, 2), help="Sampling temperature; 0 for repeatable runs.")
def chat(
    llm_url: str,
    llm_key: str | None,
    model: str | None,
    endpoints: tuple[str, ...],
    mcp_key: str | None,
    question: str | None,
    tool_choice: str | None,
    system: str | None,
    max_tool_rounds: int,
    max_tokens: int | None,
    temperature: float | None,
) -> None:
    """Chat with a model that calls the tools of toolpark MCP endpoints (Ctrl-D ends)."""
    # The agent stands on the MCP SDK and httpx: loaded on a call, not for `toolpark --help`.
    from pydantic import SecretStr

    from toolpark.chat.agent import Agent, Toolbox, default_observer
    from toolpark.chat.llm import ChatError
    from toolpark.clients import api_client
    from toolpark.contract.errors import first_leaf

    async def run() -> None:
        headers = {"Authorization": f"Bearer {mcp_key}"} if mcp_key else {}
        async with AsyncExitStack() as stack:
            llm = await stack.enter_async_context(api_client(llm_url, SecretStr(llm_key) if llm_key else None))
            try:
                toolbox = await Toolbox.open(stack, endpoints, headers)
            except Exception as exc:  # 401, refused connection, not an MCP endpoint: say which
                raise click.ClickException(f"cannot use the MCP endpoints {', '.join(endpoints)}: {exc}") from exc
            _trace(f"tools: {', '.join(toolbox.routes) or 'none'}")
            agent = Agent(
                llm,
                model or await _first_model(llm),
                toolbox,
                default_observer(_write, _trace),
                system=system,
                max_tool_rounds=max_tool_rounds,
                max_tokens=max_tokens,
                temperature=temperature,
            )
            forced = tool_choice  # for the first question only
            while (asked := question if question is not None else await _prompt()) is not None:
                try:
                    await agent.ask(asked, tool_choice=forced)
                except (ChatError, ValueError) as exc:
                    raise click.ClickException(str(exc)) from exc
                _write("\n")
                forced = None
                if question is not None:
                    return

    try:
        anyio.run(run)
    except BaseExceptionGroup as group:
        # The MCP clients' task groups wrap what `run` raises; show the error, not the group.
        raise first_leaf(group) from None
