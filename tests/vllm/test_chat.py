"""`toolpark chat` against the real vLLM chat model and a real retrieval server (embeddings from
vLLM too): model -> tool call -> MCP server -> tool result -> model answer, in the transcript.

SmolLM2-135M's judgement is poor, so the tests name the tool the model must call and assert on
the protocol (what was called, that the server answered, that the model then answered), never on
the words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner

from tests.vllm_server import VllmServer
from toolpark.chat.agent import Agent, Toolbox
from toolpark.clients import api_client, http_client
from toolpark.devtools.cli import main
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.operations.embedded import postgres
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, serve_http

pytestmark = pytest.mark.vllm

KEY = "tpk_chat-smoke-test"
HANDBOOK = (
    "Pump manual. Error E4711 means the bearing overheated; let the pump cool for 30 minutes. "
    "Error E12 means the inlet is blocked; clean the filter."
)


@pytest.fixture(scope="module")
def running(vllm_embeddings: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    settings = {"embedding_url": vllm_embeddings.url, "embedding_model": vllm_embeddings.model}
    with (
        postgres(tmp_path_factory.mktemp("pg")) as database,
        serve_http(
            retrieval,
            settings={"retrieval": {"database_url": database.url, "embedding_truncate": True, **settings}},
            auth={"api_keys": [{"name": "smoke", "hash": hash_key(KEY)}]},
        ) as host,
    ):

        async def load() -> None:
            async with http_client(host.url("retrieval"), headers={"Authorization": f"Bearer {KEY}"}) as client:
                for tool, arguments in [
                    ("create_collection", {"name": "handbook"}),
                    ("ingest", {"collection": "handbook", "text": HANDBOOK, "source_uri": "pump.txt"}),
                ]:
                    result = await client.call_tool(tool, arguments)
                    assert not result.is_error, result.content

        anyio.run(load)
        yield host


def search_calls(host: RunningHost) -> float:
    metrics = httpx.get(host.base_url + "/metrics").text
    found = re.search(r'toolpark_tool_calls_total\{[^}]*tool="search"[^}]*\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


def test_chat_once_runs_the_full_round_trip(vllm_chat: VllmServer, running: RunningHost) -> None:
    before = search_calls(running)
    arguments = ["chat", "--llm-url", vllm_chat.url, "--mcp", running.url("retrieval"), "--tool-choice", "search"]
    arguments += ["--once", "Search the handbook collection: what does error E4711 mean?"]
    arguments += ["--max-tool-rounds", "1", "--max-tokens", "200", "--temperature", "0"]
    result = CliRunner().invoke(main, arguments, env={"TOOLPARK_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    trace = result.stderr.splitlines()
    assert trace[0].startswith("tools: ") and "search" in trace[0]
    call = next(line for line in trace if line.startswith("→ search "))
    assert "query" in json.loads(call.removeprefix("→ search "))  # arguments constrained to the schema
    outcome = next(line for line in trace if line.startswith("← search "))
    assert re.match(r"← search ok in \d+ ms: ", outcome), outcome  # a call the server accepted
    assert result.stdout.strip(), "the model answered after the tool result"
    assert search_calls(running) == before + 1  # the server counted the call


@pytest.mark.anyio
async def test_the_tool_result_goes_back_to_the_model(vllm_chat: VllmServer, running: RunningHost) -> None:
    seen: list[tuple[str, Any]] = []

    class Recorder:
        def text(self, delta: str) -> None:
            seen.append(("text", delta))

        def tool_call(self, name: str, arguments: str) -> None:
            seen.append(("call", name))

        def tool_result(self, name: str, seconds: float, is_error: bool, text: str) -> None:
            seen.append(("result", text))

    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(api_client(vllm_chat.url))
        toolbox = await Toolbox.open(stack, [running.url("retrieval")], {"Authorization": f"Bearer {KEY}"})
        agent = Agent(llm, vllm_chat.model, toolbox, Recorder(), max_tool_rounds=1, max_tokens=200, temperature=0)
        answer = await agent.ask("What does error E4711 mean? Use the handbook collection.", tool_choice="search")
    roles = [m["role"] for m in agent.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    (call,) = agent.messages[1]["tool_calls"]
    assert call["function"]["name"] == "search" and agent.messages[2]["tool_call_id"] == call["id"]
    assert agent.messages[2]["content"] == next(v for k, v in seen if k == "result")
    assert answer and answer == agent.messages[3]["content"] == "".join(v for k, v in seen if k == "text")
