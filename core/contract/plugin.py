"""The plugin contract: what a tool server declares, and nothing more.

A plugin is a `Plugin` object exported through the `toolpark.plugins` entry-point group.
It declares a name, version and description, a settings model, a lifespan that opens its
resources, and its tools, resources, prompts and completions. The host builds the MCP server
from that declaration; a plugin never sees the server, the transport or another plugin.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from mcp_types import ToolAnnotations

from toolpark.contract.context import ToolContext
from toolpark.contract.settings import PluginSettings
from toolpark.contract.tenancy import TenantScope

__all__ = ["Plugin", "PromptSpec", "RateLimit", "ResourceSpec", "ToolSpec", "check_plugin_name"]

SettingsT = TypeVar("SettingsT", bound=PluginSettings)
StateT = TypeVar("StateT")
FnT = TypeVar("FnT", bound=Callable[..., Any])

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolSpec:
    """One tool as its plugin declared it."""

    fn: Callable[..., Awaitable[Any]]
    name: str
    description: str
    title: str | None
    annotations: ToolAnnotations
    context_param: str | None
    timeout_s: float | None
    structured_output: bool | None
    input_schema: dict[str, Any] | None = None
    requires: tuple[str, ...] = ()
    when: Callable[[Any], bool] | None = None
    task: TaskSupport | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class RateLimit:
    """Calls one caller may make to one tool: `per_minute`, in bursts of `burst` (besides the host's
    own limit per caller and plugin). For tools that cost much: a model call, a crawl, an OCR."""

    per_minute: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")


TaskSupport = Literal["optional", "required"]
"""Whether a tool may run as a task (`optional`) or runs only as one (`required`)."""

Choices = Callable[[StateT, TenantScope], Awaitable[Sequence[str] | Sequence[bool]]]
"""Where a parameter's values come from for a caller: `(state, tenant) -> values`."""


@dataclass(frozen=True)
class ResourceSpec:
    """A resource or resource template, registered as the MCP SDK's `resource` decorator takes it."""

    fn: Callable[..., Any]
    uri: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptSpec:
    """A prompt, registered as the MCP SDK's `prompt` decorator takes it."""

    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


def check_plugin_name(name: str) -> None:
    """Plugin names appear in URLs, env vars and package names, so they are kept plain."""
    if not _NAME.match(name):
        raise ValueError(f"plugin name {name!r} must be lowercase letters, digits and dashes, starting with a letter")


@asynccontextmanager
async def _no_resources(settings: PluginSettings) -> AsyncIterator[None]:
    yield None


class Plugin(Generic[SettingsT, StateT]):
    """A tool server's declaration.

    ```python
    plugin = Plugin("notes", version="0.1.0", description="Keeps notes.", settings=NotesSettings)

    @plugin.lifespan
    async def open_store(settings: NotesSettings) -> AsyncIterator[Store]:
        async with Store.open(settings.path) as store:
            yield store

    @plugin.tool(read_only=True)
    async def count_notes(ctx: ToolContext[NotesSettings, Store]) -> int:
        \"\"\"How many notes there are.\"\"\"
        return await ctx.state.count()
    ```
    """

    def __init__(
        self,
        name: str,
        *,
        version: str,
        description: str,
        settings: type[SettingsT] = PluginSettings,  # type: ignore[assignment]
        instructions: str | None = None,
    ) -> None:
        check_plugin_name(name)
        if not issubclass(settings, PluginSettings):
            raise TypeError(f"plugin {name!r}: settings must subclass core.PluginSettings")
        self.name = name
        self.version = version
        self.description = description
        self.settings_model: type[SettingsT] = settings
        self.instructions = instructions
        self.tools: dict[str, ToolSpec] = {}
        self.resources: list[ResourceSpec] = []
        self.prompts: list[PromptSpec] = []
        self.completion_handler: Callable[..., Awaitable[Any]] | None = None
        self.open_resources: Lifespan = _no_resources
        self.readiness_check: Callable[[StateT], Awaitable[None]] | None = None
        self.choice_sources: dict[str, Choices[StateT]] = {}

    def __repr__(self) -> str:
        return f"<Plugin {self.name} {self.version}: {len(self.tools)} tools>"

    def lifespan(
        self, fn: Callable[[SettingsT], AsyncIterator[StateT] | AbstractAsyncContextManager[StateT]]
    ) -> Callable[[SettingsT], AbstractAsyncContextManager[StateT]]:
        """Declare how to open the plugin's resources; what it yields is `ctx.state` in every tool.

        Takes an async generator function (made into a context manager) or a function that
        returns an async context manager. It runs once per process, before the first call.
        """
        manager = asynccontextmanager(fn) if inspect.isasyncgenfunction(fn) else fn
        self.open_resources = cast(Lifespan, manager)
        return self.open_resources

    def choices(self, parameter: str) -> Callable[[Choices[StateT]], Choices[StateT]]:
        """Declare where the values of `parameter` come from for each caller (the caller's collections,
        say). `tools/list` then offers them as the parameter's `enum` in every tool of the plugin that
        takes it, so a model picks one instead of inventing one; calls are still checked as before.
        A dotted path reaches into a list's items (`filters.field`). The function gets the state and
        the caller's tenant scope and returns the values; with none, an optional parameter is left
        out of that caller's listing (a required one stays, without an enum).
        """

        def register(fn: Choices[StateT]) -> Choices[StateT]:
            self.choice_sources[parameter] = fn
            return fn

        return register

    def ready(self, fn: Callable[[StateT], Awaitable[None]]) -> Callable[[StateT], Awaitable[None]]:
        """Declare a live readiness probe for `/readyz`: it raises when the plugin cannot serve."""
        self.readiness_check = fn
        return fn

    def tool(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        read_only: bool = False,
        destructive: bool | None = None,
        idempotent: bool = False,
        open_world: bool = False,
        timeout_s: float | None = None,
        structured_output: bool | None = None,
        input_schema: dict[str, Any] | None = None,
        requires: str | tuple[str, ...] = (),
        when: Callable[[SettingsT], bool] | None = None,
        task: bool | TaskSupport = False,
        rate_limit: RateLimit | None = None,
    ) -> Callable[[FnT], FnT]:
        """Declare an async function as a tool.

        Its typed parameters become the `inputSchema`, its return type the `outputSchema`, its
        docstring the description. A parameter annotated `ToolContext` receives the call context.
        The hints map to MCP tool annotations; `destructive` defaults to the opposite of `read_only`.
        `timeout_s` overrides the plugin's `call_timeout_s` for this tool. `input_schema` publishes a
        hand-written JSON Schema instead of the derived one (for keywords pydantic cannot express);
        arguments are still validated against the function's signature. `requires` names scopes or
        roles a caller must hold; others neither see the tool nor may call it. `when` decides from
        the plugin's settings whether the tool exists at all (a search tool without a search
        backend configured, write tools in read-only mode). `task=True` lets a long call run as a task
        for clients that take tasks: it becomes one when it calls `ctx.background()` or after
        `task_after_s`; `task="required"` refuses clients that do not take tasks. `rate_limit` bounds
        each caller's calls to this tool.
        """

        def register(fn: FnT) -> FnT:
            spec = self._tool_spec(
                fn,
                name=name or fn.__name__,
                title=title,
                description=description,
                annotations=ToolAnnotations(
                    title=title,
                    read_only_hint=read_only,
                    destructive_hint=(not read_only) if destructive is None else destructive,
                    idempotent_hint=idempotent,
                    open_world_hint=open_world,
                ),
                timeout_s=timeout_s,
                structured_output=structured_output,
                input_schema=input_schema,
                requires=(requires,) if isinstance(requires, str) else tuple(requires),
                when=when,
                task=("optional" if task is True else task) or None,
                rate_limit=rate_limit,
            )
            if spec.name in self.tools:
                raise ValueError(f"plugin {self.name!r} declares tool {spec.name!r} twice")
            self.tools[spec.name] = spec
            return fn

        return register

    def _tool_spec(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        title: str | None,
        description: str | None,
        annotations: ToolAnnotations,
        timeout_s: float | None,
        structured_output: bool | None,
        input_schema: dict[str, Any] | None,
        requires: tuple[str, ...],
        when: Callable[[Any], bool] | None,
        task: TaskSupport | None,
        rate_limit: RateLimit | None,
    ) -> ToolSpec:
        """The tool's whole declaration, checked: built once, never patched."""
        where = f"tool {name!r} of plugin {self.name!r}"
        if not _TOOL_NAME.match(name):
            raise ValueError(f"{where}: names may use letters, digits, '_' and '-' (at most 64)")
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"{where} must be an async function")
        text = description or inspect.getdoc(fn)
        if not text:
            raise ValueError(f"{where} needs a docstring: it is the description the model reads")
        hints = typing.get_type_hints(fn)
        context_param = None
        for param in inspect.signature(fn).parameters.values():
            hint = hints.get(param.name)
            if hint is None:
                raise TypeError(f"{where}: parameter {param.name!r} needs a type annotation")
            if _is_tool_context(hint):
                context_param = param.name
        if "return" not in hints:
            raise TypeError(f"{where} needs a return type annotation: it becomes the outputSchema")
        return ToolSpec(
            fn=fn,
            name=name,
            description=text,
            title=title,
            annotations=annotations,
            context_param=context_param,
            timeout_s=timeout_s,
            structured_output=structured_output,
            input_schema=input_schema,
            requires=requires,
            when=when,
            task=task,
            rate_limit=rate_limit,
        )

    def resource(self, uri: str, **options: Any) -> Callable[[FnT], FnT]:
        """Declare a resource (or a template, when `uri` has `{variables}`); options as the MCP SDK's."""

        def register(fn: FnT) -> FnT:
            self.resources.append(ResourceSpec(fn, uri, options))
            return fn

        return register

    def prompt(self, **options: Any) -> Callable[[FnT], FnT]:
        """Declare a prompt; options (name, title, description) as the MCP SDK's."""

        def register(fn: FnT) -> FnT:
            self.prompts.append(PromptSpec(fn, options))
            return fn

        return register

    def completion(self, fn: FnT) -> FnT:
        """Declare the handler of `completion/complete`: `(ref, argument, context) -> Completion | None`."""
        self.completion_handler = fn
        return fn


def _is_tool_context(hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    return inspect.isclass(origin) and issubclass(origin, ToolContext)
