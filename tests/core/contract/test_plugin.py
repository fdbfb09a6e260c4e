"""The plugin contract refuses a bad declaration when it is made, not at the first call."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from toolpark import Plugin, PluginSettings, ToolContext
from toolpark.testing import connect

pytestmark = pytest.mark.anyio


def make() -> Plugin[PluginSettings, None]:
    return Plugin("demo", version="1.0", description="A demo.")


@pytest.mark.parametrize("name", ["Demo", "1demo", "de mo", "", "d" * 41, "demo_x"])
def test_plugin_names_stay_plain(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase"):
        Plugin(name, version="1", description="d")


def test_settings_must_subclass_plugin_settings() -> None:
    with pytest.raises(TypeError, match="PluginSettings"):
        Plugin("demo", version="1", description="d", settings=BaseModel)  # type: ignore[arg-type]


def test_tool_must_be_async() -> None:
    with pytest.raises(TypeError, match="async"):

        @make().tool()
        def sync_tool() -> str:
            """Doc."""
            return ""


def test_tool_needs_a_docstring() -> None:
    with pytest.raises(ValueError, match="docstring"):

        @make().tool()
        async def quiet() -> str:
            return ""


def test_tool_needs_annotations() -> None:
    with pytest.raises(TypeError, match="'x' needs a type annotation"):

        @make().tool()
        async def loose(x) -> str:  # type: ignore[no-untyped-def]
            """Doc."""
            return ""

    with pytest.raises(TypeError, match="return type"):

        @make().tool()
        async def no_return(x: int):  # type: ignore[no-untyped-def]
            """Doc."""


def test_tool_names_are_unique_and_portable() -> None:
    plugin = make()

    @plugin.tool()
    async def twice() -> str:
        """Doc."""
        return ""

    with pytest.raises(ValueError, match="twice"):
        plugin.tool(name="twice")(twice)
    with pytest.raises(ValueError, match="letters, digits"):
        plugin.tool(name="has space")(twice)


async def test_annotations_and_context_reach_the_client() -> None:
    plugin = make()

    @plugin.tool(read_only=True, idempotent=True)
    async def look(ctx: ToolContext[PluginSettings, None], n: int) -> str:
        """Look at something."""
        return f"{ctx.plugin}:{n}:{ctx.settings.call_timeout_s}"

    @plugin.tool(destructive=True, open_world=True)
    async def wipe() -> str:
        """Wipe something."""
        return "gone"

    async with connect(plugin, settings={"call_timeout_s": 7}) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("look", {"n": 3})
    assert "ctx" not in tools["look"].input_schema["properties"]
    look_hints, wipe_hints = tools["look"].annotations, tools["wipe"].annotations
    assert look_hints is not None and wipe_hints is not None
    assert (look_hints.read_only_hint, look_hints.destructive_hint, look_hints.idempotent_hint) == (True, False, True)
    assert (wipe_hints.read_only_hint, wipe_hints.destructive_hint, wipe_hints.open_world_hint) == (False, True, True)
    assert result.content[0].text == "demo:3:7.0"  # type: ignore[union-attr]


async def test_long_string_bounds_are_enforced_but_not_published() -> None:
    """llama.cpp compiles a tool's schema into a grammar and refuses repetitions of 2,000 or more:
    with `maxLength: 2000` published, every call of the tool failed on llama-server. Such a bound
    is kept out of `tools/list` and still enforced; shorter bounds are published as they are."""
    demo = make()

    @demo.tool()
    async def find(
        ctx: ToolContext[PluginSettings, None],
        query: Annotated[str, Field(max_length=2000)],
        label: Annotated[str, Field(max_length=100)] = "",
    ) -> str:
        """Find something."""
        return query

    async with connect(demo) as client:
        (tool,) = [tool for tool in (await client.list_tools()).tools if tool.name == "find"]
        too_long = await client.call_tool("find", {"query": "x" * 2001})
        fits = await client.call_tool("find", {"query": "x" * 2000})
    properties = tool.input_schema["properties"]
    assert "maxLength" not in properties["query"] and properties["label"]["maxLength"] == 100
    assert too_long.is_error and "query" in too_long.content[0].text  # type: ignore[union-attr]
    assert not fits.is_error
