"""The tool lists of the first-party servers, as a front end hands them to the model, stay within
the token budget the docs state together, and the host reports each endpoint's count."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from toolpark.contract.settings import from_values
from toolpark.devtools.cli import main
from toolpark.host.loading import first_party_servers, load_plugins
from toolpark.host.runtime import PluginRuntime
from toolpark.host.transport.serving import Host
from toolpark.operations.budget import TOOL_LIST_BUDGET, count_tokens, tool_list_tokens
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost

pytestmark = pytest.mark.anyio

FIRST_PARTY = first_party_servers()


def test_the_tokenizer_is_o200k_and_needs_no_download() -> None:
    assert count_tokens("hello world") == 2 and count_tokens("Übergrößenträger") > 3


async def _tokens(name: str) -> int:
    (plugin,) = load_plugins([name])
    runtime = PluginRuntime(plugin, from_values(plugin.settings_model))
    host = Host([runtime])
    return tool_list_tokens(await host.listed(host.server(runtime)))


async def test_the_first_party_tool_lists_stay_within_the_budget_together() -> None:
    tokens = {name: await _tokens(name) for name in FIRST_PARTY}
    assert set(tokens) == {"retrieval", "extract", "s3", "web"}
    assert all(count > 200 for count in tokens.values()) and sum(tokens.values()) <= TOOL_LIST_BUDGET, tokens
    for name, count in tokens.items():  # the guide's figure for each is today's, within 5%
        stated = re.search(rf"\b{name} ≈([\d,]+)", GUIDE.read_text())
        assert stated, f"{GUIDE} states no figure for {name}"
        assert abs(int(stated.group(1).replace(",", "")) - count) <= 0.05 * count, f"{name}: {count} tokens"


def test_the_model_is_handed_name_description_and_input_schema_only() -> None:
    """What LibreChat and Open WebUI hand the model: no output schema, no annotations; and a listed
    input schema without pydantic's titles and optional nulls."""
    (plugin,) = load_plugins(["retrieval"])
    runtime = PluginRuntime(plugin, from_values(plugin.settings_model))
    host = Host([runtime])
    (search,) = [tool for tool in anyio.run(host.listed, host.server(runtime)) if tool.name == "search"]
    assert search.output_schema and tool_list_tokens([search]) < count_tokens(search.model_dump_json(by_alias=True))
    collection = search.input_schema["properties"]["collection"]
    assert collection["type"] == "string" and "anyOf" not in collection and "default" not in collection
    # No title keyword (a string); a field called title (a schema) stays: citations have one.
    assert '"title": "' not in json.dumps(search.input_schema) + json.dumps(search.output_schema)
    assert "title" in search.output_schema["$defs"]["Citation"]["properties"]


GUIDE = Path(__file__).parents[1] / "docs" / "getting-started" / "agent-developer.md"


def test_the_docs_state_the_budget() -> None:
    assert re.search(rf"\b{TOOL_LIST_BUDGET:,} tokens\b", GUIDE.read_text())


def test_toolpark_list_reports_the_tokens() -> None:
    listed = CliRunner().invoke(main, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    counts = {plugin["name"]: plugin["tool_list_tokens"] for plugin in json.loads(listed.output)}
    assert all(isinstance(counts[name], int) and counts[name] > 0 for name in FIRST_PARTY)


async def test_metrics_report_each_endpoints_tokens(toolpark_http: Callable[..., RunningHost]) -> None:
    running = toolpark_http(everything)
    expected = tool_list_tokens(await running.host.listed(running.host.server(running.host.runtimes[0])))
    metrics = (await running.get("/metrics")).text
    assert f'toolpark_tool_list_tokens{{endpoint="everything"}} {float(expected)}' in metrics
