"""The `web` server's declaration and settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from pydantic import Field

from toolpark import Plugin, PluginSettings
from toolpark.clients import probe
from toolpark.mcp_servers.web.fetching import Fetcher
from toolpark.mcp_servers.web.robots import RobotsPolicy

__all__ = ["State", "WebSettings", "plugin"]

AUTONOMOUS_AGENT = "ModelContextProtocol/1.0 (Autonomous; +https://github.com/modelcontextprotocol/servers)"


class WebSettings(PluginSettings):
    """`TOOLPARK_WEB_*`, or `[plugins.web]`. Outbound policy (proxy, timeouts, caps) is `[egress]`'s."""

    call_timeout_s: float = Field(90.0, gt=0, description="Seconds a tool call may run before it is cancelled.")
    # Pages are text a model reads whole: about 25,000 tokens a message, the rest read on in parts.
    max_result_bytes: int = Field(
        100_000, ge=1024, description=PluginSettings.model_fields["max_result_bytes"].description
    )
    user_agent: str | None = Field(None, description="User-Agent for every request, instead of the MCP defaults.")
    ignore_robots_txt: bool = Field(False, description="Fetch pages robots.txt disallows for autonomous agents.")
    max_page_bytes: int = Field(10_000_000, ge=1024, description="Largest page body read, in bytes.")
    per_host_concurrency: int = Field(4, ge=1, description="Requests to one site at once.")
    cache_bytes: int = Field(64_000_000, ge=0, description="Size of the HTTP cache, in bytes.")
    page_memo_s: float = Field(300.0, ge=0, description="Seconds a converted page is kept for paging through.")
    min_extracted_chars: int = Field(
        200, ge=0, description="Below this, main-content extraction is replaced by the whole page."
    )
    fetch_many_max: int = Field(10, ge=1, le=100, description="URLs one fetch_many call may take.")
    fetch_many_concurrency: int = Field(4, ge=1, description="Pages fetch_many fetches at once.")
    searxng_url: str | None = Field(None, description="SearXNG base URL; enables the search tool.")
    search_max_results: int = Field(10, ge=1, le=50, description="Most results search returns.")

    @property
    def autonomous_agent(self) -> str:
        return self.user_agent or AUTONOMOUS_AGENT


@dataclass
class State:
    fetcher: Fetcher
    robots: RobotsPolicy
    searxng: httpx.AsyncClient | None


plugin: Plugin[WebSettings, State] = Plugin(
    "web",
    version="0.1.0",
    description="Reads web pages as clean markdown, politely and safely.",
    settings=WebSettings,
    instructions=(
        "Use fetch to read a web page as markdown; when the text ends with a continuation note, call fetch "
        "again with the start_index it gives. fetch_many reads several pages at once."
    ),
)


@plugin.lifespan
async def open_state(settings: WebSettings) -> AsyncIterator[State]:
    fetcher = Fetcher(
        cache_bytes=settings.cache_bytes,
        per_host=settings.per_host_concurrency,
        memo_s=settings.page_memo_s,
        max_bytes=settings.max_page_bytes,
    )
    robots = RobotsPolicy(settings.autonomous_agent)
    state = State(fetcher, robots, None)
    if settings.searxng_url:
        # SearXNG is the operator's own service, often on a private address: it is reached directly,
        # not through the egress policy that guards user-supplied URLs.
        async with httpx.AsyncClient(base_url=settings.searxng_url, timeout=20.0) as searxng:
            state.searxng = searxng
            yield state
    else:
        yield state


@plugin.ready
async def search_answers(state: State) -> None:
    if state.searxng is not None:
        await probe(state.searxng, "SearXNG search", "healthz")
