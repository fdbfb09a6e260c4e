"""`toolpark chat` without a model: its failures are clear one-line errors, and tool results are
turned into text a model can read. The round trip with a real model is in tests/vllm."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from toolpark.chat.agent import result_text
from toolpark.devtools.cli import main
from toolpark.operations.embedded import free_ports
from toolpark.plugins.everything import plugin as everything
from toolpark.security.keys import hash_key
from toolpark.testing import RunningHost, http_client

KEY = "tpk_chat-test"


@pytest.fixture
def running(toolpark_http: Callable[..., RunningHost]) -> RunningHost:
    return toolpark_http(everything, auth={"api_keys": [{"name": "chat", "hash": hash_key(KEY)}]})


def chat(*arguments: str, key: str = KEY) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["chat", *arguments], env={"TOOLPARK_API_KEY": key})
    return result.exit_code, result.output


def closed_url() -> str:
    (port,) = free_ports(1)
    return f"http://127.0.0.1:{port}/v1"


def test_an_unreachable_model_is_a_clear_error(running: RunningHost) -> None:
    code, output = chat("--llm-url", closed_url(), "--model", "m", "--mcp", running.url("everything"), "--once", "hi")
    assert code == 1 and "the chat endpoint is unreachable: ConnectError" in output
    assert "tools: " in output and "echo" in output  # the MCP side was fine


def test_an_unknown_tool_choice_lists_the_tools(running: RunningHost) -> None:
    code, output = chat(
        "--llm-url", closed_url(), "--model", "m", "--mcp", running.url("everything"), "--once", "hi",
        "--tool-choice", "ech",
    )  # fmt: skip
    assert code == 1 and "no tool named 'ech'; tools offered:" in output and "echo" in output


def test_a_refused_mcp_key_names_the_endpoint(running: RunningHost) -> None:
    url = running.url("everything")
    code, output = chat("--llm-url", closed_url(), "--model", "m", "--mcp", url, "--once", "hi", key="tpk_wrong")
    assert code == 1 and f"cannot use the MCP endpoints {url}" in output and "Traceback" not in output


def test_two_endpoints_keep_their_tools_apart(toolpark_http: Callable[..., RunningHost]) -> None:
    first, second = toolpark_http(everything), toolpark_http(everything)
    code, output = chat(
        "--llm-url", closed_url(), "--model", "m", "--mcp", first.url("everything"), "--mcp", second.url("everything"),
        "--once", "hi", "--tool-choice", "echo",
    )  # fmt: skip
    assert code == 1 and re.search(r"two tools are both offered as 'everything__\w+'", output)


@pytest.mark.anyio
async def test_results_become_text_the_model_can_read(running: RunningHost) -> None:
    async with http_client(running.url("everything"), headers={"Authorization": f"Bearer {KEY}"}) as client:
        mixed = await client.call_tool("test_multiple_content_types", {})
        structured = await client.call_tool("echo", {"text": "x" * 50})
        failed = await client.call_tool("test_error_handling", {})
    text = result_text(mixed, 10_000)
    assert "[image content omitted]" in text and "Multiple content types" in text
    assert result_text(structured, 10_000).startswith("{") and "x" * 50 in result_text(structured, 10_000)
    full = result_text(structured, 10_000)
    assert result_text(structured, 20) == full[:20] + f"\n[cut at 20 characters of {len(full)}]"
    assert failed.is_error and result_text(failed, 1000) == "This tool intentionally returns an error for testing"
