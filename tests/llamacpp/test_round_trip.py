"""`toolpark chat` against a real llama.cpp server (llama-cpp-python's, started with the command line
the processes target renders for `engine = "llamacpp"`) and a real retrieval server whose embeddings
come from llama.cpp too: model -> tool call -> MCP server -> tool result -> model answer.

SmolLM2-135M's judgement is poor, so the test names the tool the model must call and asserts on the
protocol (what was called, that the server answered, that the model then answered), not the words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import anyio
import pytest
from click.testing import CliRunner

from tests.llamacpp_server import KEY as LLAMACPP_KEY
from tests.llamacpp_server import LlamaCppServer
from toolpark.devtools.cli import main
from toolpark.mcp_servers.retrieval import plugin as retrieval
from toolpark.operations.embedded import postgres
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client, serve_http

pytestmark = pytest.mark.llamacpp

KEY = "tpk_llamacpp-round-trip"
HANDBOOK = (
    "Pump manual. Error E4711 means the bearing overheated; let the pump cool for 30 minutes. "
    "Error E12 means the inlet is blocked; clean the filter."
)


@pytest.fixture(scope="module")
def running(llamacpp_embeddings: LlamaCppServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """Retrieval as the compose target wires it to a llama.cpp embedding model (no truncate field)."""
    settings = {
        "embedding_url": llamacpp_embeddings.url, "embedding_model": llamacpp_embeddings.model,
        "embedding_api_key": LLAMACPP_KEY, "embedding_truncate": False,
    }  # fmt: skip
    with (
        postgres(tmp_path_factory.mktemp("pg")) as database,
        serve_http(
            retrieval,
            settings={"retrieval": {"database_url": database.url, **settings}},
            auth={"api_keys": [{"name": "smoke", "hash": hash_key(KEY)}]},
        ) as host,
    ):
        yield host


def test_retrieval_embeds_with_llamacpp(running: RunningHost) -> None:
    async def scenario() -> tuple[object, object]:
        async with http_client(running.url("retrieval"), headers={"Authorization": f"Bearer {KEY}"}) as client:
            created = await client.call_tool("create_collection", {"name": "handbook"})
            assert not created.is_error, created.content
            added = await client.call_tool(
                "ingest", {"collection": "handbook", "text": HANDBOOK, "source_uri": "pump.txt"}
            )
            listed = await client.call_tool("list_collections", {})
            found = await client.call_tool("search", {"collection": "handbook", "query": "E4711", "mode": "vector"})
            return added, (listed, found)

    added, (listed, found) = anyio.run(scenario)
    assert not added.is_error, added.content  # type: ignore[attr-defined]
    (collection,) = listed.structured_content["collections"]  # type: ignore[attr-defined]
    assert collection["embedding_model"] == "smollm2-embed" and collection["dimension"] == 576  # SmolLM2's width
    passages = found.structured_content["passages"]  # type: ignore[attr-defined]
    assert passages and passages[0]["citation"]["source_uri"] == "pump.txt"


def test_chat_once_runs_the_full_round_trip(llamacpp_chat: LlamaCppServer, running: RunningHost) -> None:
    arguments = ["chat", "--llm-url", llamacpp_chat.url, "--model", llamacpp_chat.model]
    arguments += ["--mcp", running.url("retrieval"), "--tool-choice", "search"]
    arguments += ["--once", "Search the handbook collection: what does error E4711 mean?"]
    arguments += ["--max-tool-rounds", "1", "--max-tokens", "100", "--temperature", "0"]
    env = {"TOOLPARK_API_KEY": KEY, "TOOLPARK_CHAT_LLM_KEY": LLAMACPP_KEY}
    result = CliRunner().invoke(main, arguments, env=env)
    assert result.exit_code == 0, result.output
    trace = result.stderr.splitlines()
    assert trace[0].startswith("tools: ") and "search" in trace[0]
    call = next(line for line in trace if line.startswith("→ search "))
    assert "query" in json.loads(call.removeprefix("→ search "))
    outcome = next(line for line in trace if line.startswith("← search "))
    assert re.match(r"← search (ok|error) in \d+ ms: ", outcome), outcome  # the server answered the call
    assert result.stdout.strip(), "the model answered after the tool result"
