"""The `web` server's tools: fetch (the mcp-server-fetch interface, and more), fetch_many, search."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from toolpark import ToolContext, ToolError, paginate, text_result
from toolpark.contract.results import sources_card
from toolpark.documents.decoding import decode, is_textual
from toolpark.documents.html import Format, convert_html
from toolpark.documents.pages import joined
from toolpark.mcp_servers.web.fetching import Rendered
from toolpark.mcp_servers.web.plugin import State, WebSettings, plugin

Ctx = ToolContext[WebSettings, State]

Url = Annotated[str, Field(min_length=1, max_length=8192, description="URL to fetch")]
MaxLength = Annotated[int, Field(gt=0, lt=1_000_000, description="Maximum number of characters to return.")]
StartIndex = Annotated[
    int,
    Field(
        ge=0,
        description="On return output starting at this character index, useful if a previous fetch was truncated "
        "and more context is required.",
    ),
]
Raw = Annotated[bool, Field(description="Get the actual HTML content of the requested page, without simplification.")]
Fmt = Annotated[Format, Field(description="markdown (default): main content with headings, lists, tables, links; "
                                          "text: plain text; html: the main content's HTML.")]  # fmt: skip


class FetchedPage(BaseModel):
    url: str
    final_url: str = Field(description="Where the page was found after redirects.")
    status: int
    content_type: str
    format: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    canonical_url: str | None = None
    note: str | None = Field(None, description="Why the text may not be what was hoped for.")
    start_index: int
    next_index: int | None = Field(description="start_index for the next part, or null at the end.")
    total_length: int


async def render(ctx: Ctx, url: str, *, fmt: Format, raw: bool) -> Rendered:
    """The whole text of `url` as the tools serve it, converted once and remembered for paging."""
    state, settings = ctx.state, ctx.settings
    key = (url, fmt, str(raw))
    remembered = state.fetcher.remembered(key)
    if remembered is not None:
        return remembered
    if not settings.ignore_robots_txt:
        await state.robots.check(url, lambda where: state.fetcher.get(ctx.egress, where, settings.autonomous_agent))
    response = await state.fetcher.get(ctx.egress, url, settings.autonomous_agent)
    if response.status_code >= 400:
        raise ToolError(f"Failed to fetch {url} - status code {response.status_code}")
    content_type = response.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    base = {"url": url, "final_url": response.url, "status": response.status_code, "content_type": content_type}
    if kind == "application/pdf" or response.content[:5] == b"%PDF-":
        page = Rendered(**base, text=await pdf_text(ctx, response.content))
    elif kind and not is_textual(content_type) and kind != "application/xhtml+xml":
        described = f"{kind} content, {len(response.content)} bytes, which cannot be shown as text."
        page = Rendered(**base, text="", note=described)
    else:
        text = decode(response.content, content_type)
        is_html = "<html" in text[:100].lower() or kind in ("text/html", "application/xhtml+xml") or not kind
        if is_html and not raw:
            converted = await anyio.to_thread.run_sync(
                lambda: convert_html(text, url=response.url, fmt=fmt, min_chars=settings.min_extracted_chars)
            )
            page = Rendered(
                **base, text=converted.text, title=converted.title, author=converted.author, date=converted.date,
                canonical_url=converted.canonical_url, note=converted.note,
            )  # fmt: skip
        else:
            prefix = (
                ""
                if raw
                else f"Content type {content_type} cannot be simplified to markdown, but here is the raw content:\n"
            )
            page = Rendered(**base, text=text, prefix=prefix)
    state.fetcher.remember(key, page)
    return page


async def pdf_text(ctx: Ctx, data: bytes, max_pages: int = 200) -> str:
    """A PDF's text layer, page by page, through the host's out-of-process parser."""
    return joined(await ctx.documents.page_texts(data, max_pages=max_pages, ocr="never"))


def cut(page: Rendered, fmt: Format, start_index: int, max_length: int) -> tuple[str, FetchedPage]:
    """The text mcp-server-fetch would return for this slice, and the page's metadata."""
    total = len(page.text)
    if start_index >= total and (total or start_index):
        body, next_index = "<error>No more content available.</error>", None
    else:
        part = paginate(page.text, start_index=start_index, max_length=max_length)
        body, next_index = part.text, part.next_index
        if next_index is not None:
            body += (
                f"\n\n<error>Content truncated. Call the fetch tool with a start_index of {next_index} "
                "to get more content.</error>"
            )
    note = f"<note>{page.note}</note>\n" if page.note else ""
    text = f"{page.prefix}{note}Contents of {page.url}:\n{body}"
    meta = FetchedPage(
        url=page.url, final_url=page.final_url, status=page.status, content_type=page.content_type, format=fmt,
        title=page.title, author=page.author, date=page.date, canonical_url=page.canonical_url, note=page.note,
        start_index=start_index, next_index=next_index, total_length=total,
    )  # fmt: skip
    return text, meta


@plugin.tool(read_only=True, idempotent=True, open_world=True)
async def fetch(
    ctx: Ctx,
    url: Url,
    max_length: MaxLength = 5000,
    start_index: StartIndex = 0,
    raw: Raw = False,
    format: Fmt = "markdown",
) -> Annotated[CallToolResult, FetchedPage]:
    """Fetches a URL from the internet and optionally extracts its contents as markdown.

    Although originally you did not have internet access, and were advised to refuse and tell the user this,
    this tool now grants you internet access. Now you can fetch the most up-to-date information and let the
    user know that."""
    page = await render(ctx, url, fmt=format, raw=raw)
    text, meta = cut(page, format, start_index, max_length)
    result = text_result(text, meta)
    if ctx.identity.shows_ui:
        result.content.append(sources_card("Source", [(meta.title or meta.final_url, meta.final_url, "")]))
    return result


class PageOutcome(BaseModel):
    url: str
    ok: bool
    error: str | None = None
    page: FetchedPage | None = None


class ManyPages(BaseModel):
    pages: list[PageOutcome]


@plugin.tool(read_only=True, idempotent=True, open_world=True, task=True)  # slow sites add up
async def fetch_many(
    ctx: Ctx,
    urls: Annotated[list[Url], Field(min_length=1, description="The URLs to fetch.")],
    max_length: MaxLength = 5000,
    format: Fmt = "markdown",
) -> Annotated[CallToolResult, ManyPages]:
    """Fetch several URLs at once; each page, or the reason it failed, is reported separately.

    Each page is cut at max_length; use fetch with start_index to read on."""
    if len(urls) > ctx.settings.fetch_many_max:
        raise ToolError(f"fetch_many takes at most {ctx.settings.fetch_many_max} URLs; got {len(urls)}.")
    texts: list[str] = [""] * len(urls)
    outcomes: list[PageOutcome] = [PageOutcome(url=u, ok=False) for u in urls]
    limiter = anyio.CapacityLimiter(ctx.settings.fetch_many_concurrency)
    done = [0]

    async def one(i: int, url: str) -> None:
        async with limiter:
            try:
                page = await render(ctx, url, fmt=format, raw=False)
            except ToolError as exc:
                texts[i], outcomes[i] = f"Failed to fetch {url}: {exc}", PageOutcome(url=url, ok=False, error=str(exc))
                return
        texts[i], meta = cut(page, format, 0, max_length)
        outcomes[i] = PageOutcome(url=url, ok=True, page=meta)
        done[0] += 1
        await ctx.progress(done[0], len(urls), f"{done[0]} of {len(urls)} pages fetched")

    async with anyio.create_task_group() as group:
        for i, url in enumerate(urls):
            group.start_soon(one, i, url)
    return text_result("\n\n---\n\n".join(texts), ManyPages(pages=outcomes))


class Hit(BaseModel):
    title: str
    url: str
    snippet: str


class Hits(BaseModel):
    query: str
    results: list[Hit]


@plugin.tool(read_only=True, open_world=True, when=lambda s: s.searxng_url is not None)
async def search(
    ctx: Ctx,
    query: Annotated[str, Field(min_length=1, max_length=500, description="What to search the web for.")],
    max_results: Annotated[int, Field(ge=1, le=50)] = 10,
    language: Annotated[str | None, Field(description="Language code such as en or de.")] = None,
    time_range: Literal["day", "week", "month", "year"] | None = None,
) -> Hits:
    """Search the web; returns title, URL and snippet of each result. Read a result with fetch."""
    searxng = ctx.state.searxng
    assert searxng is not None  # the tool exists only when SearXNG is configured
    params = {"q": query, "format": "json", **({"language": language} if language else {})}
    if time_range:
        params["time_range"] = time_range
    try:
        response = await searxng.get("/search", params=params)
        response.raise_for_status()
        found = response.json().get("results", [])
    except (ValueError, AttributeError) as exc:
        raise ToolError("The search service answered with something other than SearXNG JSON.") from exc
    except Exception as exc:
        raise ToolError(f"The search service failed: {type(exc).__name__}. Try again later.") from exc
    limit = min(max_results, ctx.settings.search_max_results)
    hits = [
        Hit(title=str(r.get("title", "")), url=str(r["url"]), snippet=str(r.get("content", "")))
        for r in found
        if isinstance(r, dict) and r.get("url")
    ][:limit]
    return Hits(query=query, results=hits)
