"""The `extract` server's tools."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import anyio
import httpx
from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, Field

from toolpark import ToolContext, ToolError, paginate, text_result
from toolpark.clients import api_error
from toolpark.contract.documents import PageText as FoundText
from toolpark.documents.pages import joined, select_pages
from toolpark.documents.sources import Document, LocalFile, load, local_files
from toolpark.mcp_servers.extract.plugin import ExtractSettings, State, plugin
from toolpark.storage.urls import read_s3_url

Ctx = ToolContext[ExtractSettings, State]

Base64 = Annotated[str | None, Field(description="The document's bytes, base64-encoded.")]
Url = Annotated[str | None, Field(description="An http(s) URL of the document, or s3://bucket/key where enabled.")]
LocalPath = Annotated[str | None, Field(description="A file in the directory the operator opened, if any.")]
Password = Annotated[str | None, Field(description="Password of an encrypted PDF.")]
Pages = Annotated[str | None, Field(description='Pages to read, such as "1-3,7" or "5-"; default all.')]
Ocr = Literal["auto", "always", "never"]


async def document(ctx: Ctx, data_base64: str | None, url: str | None, path: str | None) -> Document:
    s = ctx.settings
    if url and url.startswith("s3://") and not data_base64 and not path:
        return await _from_storage(ctx, url)
    return await load(
        data_base64=data_base64, url=url, path=path, egress=ctx.egress, max_bytes=s.max_document_bytes,
        allowed_dir=s.allowed_dir,
    )  # fmt: skip


async def _from_storage(ctx: Ctx, url: str) -> Document:
    data, content_type = await read_s3_url(
        ctx.state.storage, ctx.settings, ctx.identity, url, ctx.settings.max_document_bytes
    )
    return Document(data, url, content_type.split(";")[0])


async def facts(ctx: Ctx, doc: Document, password: str | None) -> dict[str, Any]:
    return await ctx.state.cached(
        (doc.digest, "facts", password), lambda: ctx.documents.facts(doc.data, password=password)
    )


async def chosen_pages(ctx: Ctx, doc: Document, spec: str | None, password: str | None) -> list[int]:
    count = (await facts(ctx, doc, password))["pages"]
    return select_pages(spec, count, limit=ctx.settings.max_pages_per_call)


class Info(BaseModel):
    kind: Literal["pdf", "image"]
    pages: int
    metadata: dict[str, str] = Field(default_factory=dict)
    outline: list[dict[str, Any]] = Field(default_factory=list)
    encrypted: bool = False
    page_size_points: list[int] | None = None
    width: int | None = None
    height: int | None = None


class Files(BaseModel):
    files: list[LocalFile]
    next_start: int | None = Field(description="Where the next page starts; none after the last.")
    more_not_listed: bool = Field(description="The directory holds more files than one listing looks at.")


_LISTED = 200  # files per page
_LOOKED_AT = 20_000  # files one listing walks: a bound on time in a huge tree


@plugin.tool(read_only=True, idempotent=True, when=lambda s: s.allowed_dir is not None)
async def list_files(
    ctx: Ctx,
    pattern: Annotated[str, Field(max_length=200, description="A glob on the path, such as *.pdf or reports/*")] = "*",
    start: Annotated[int, Field(ge=0)] = 0,
) -> Files:
    """The files `path` may name, a page at a time (continue at next_start)."""
    found, more = await anyio.to_thread.run_sync(local_files, ctx.settings.allowed_dir, pattern, _LOOKED_AT)
    page = found[start : start + _LISTED]
    following = start + _LISTED if start + _LISTED < len(found) else None
    return Files(files=page, next_start=following, more_not_listed=more)


@plugin.tool(read_only=True, idempotent=True, open_world=True)
async def document_info(
    ctx: Ctx, data_base64: Base64 = None, url: Url = None, path: LocalPath = None, password: Password = None
) -> Info:
    """Pages, metadata and outline (bookmarks with page numbers) of a PDF, or the size of an image."""
    doc = await document(ctx, data_base64, url, path)
    if doc.is_pdf:
        found = await facts(ctx, doc, password)
        return Info(kind="pdf", **{k: v for k, v in found.items() if k in Info.model_fields})
    width, height = await ctx.documents.image_size(doc.data)
    return Info(kind="image", pages=1, width=width, height=height)


class PageText(BaseModel):
    page: int
    chars: int
    ocr: bool = Field(description="Whether the text was read by OCR.")


class TextExtraction(BaseModel):
    pages: list[PageText]
    start_index: int
    next_index: int | None = Field(description="start_index for the next part, or null at the end.")
    total_length: int


async def page_texts(ctx: Ctx, doc: Document, pages: list[int], ocr: Ocr, password: str | None) -> list[Any]:
    if not doc.is_pdf:
        return await ctx.state.cached((doc.digest, "ocr-image"), lambda: _image_ocr(ctx, doc))
    return await ctx.state.cached(
        (doc.digest, "text", tuple(pages), ocr, password),
        lambda: ctx.documents.page_texts(doc.data, pages=pages, ocr=ocr, password=password),
    )


async def _image_ocr(ctx: Ctx, doc: Document) -> list[FoundText]:
    return [(1, await ctx.documents.image_text(doc.data), True)]


async def _text(
    ctx: Ctx, doc: Document, spec: str | None, ocr: Ocr, password: str | None, start_index: int, max_chars: int | None
) -> CallToolResult:
    pages = await chosen_pages(ctx, doc, spec, password) if doc.is_pdf else [1]
    found = await page_texts(ctx, doc, pages, ocr, password)
    whole = joined(found)
    part = paginate(whole, start_index=start_index, max_length=max_chars or ctx.settings.max_chars)
    text = part.text
    if part.next_index is not None:
        text += f"\n\n[Text continues: call again with start_index={part.next_index} for more.]"
    meta = TextExtraction(
        pages=[PageText(page=page, chars=len(body), ocr=used) for page, body, used in found],
        start_index=start_index,
        next_index=part.next_index,
        total_length=part.total_length,
    )
    return text_result(text, meta)


@plugin.tool(read_only=True, idempotent=True, open_world=True)
async def extract_text(
    ctx: Ctx,
    data_base64: Base64 = None,
    url: Url = None,
    path: LocalPath = None,
    pages: Pages = None,
    ocr: Annotated[Ocr, Field(description="auto: OCR pages without a text layer; always; never.")] = "auto",
    start_index: Annotated[int, Field(ge=0)] = 0,
    max_chars: Annotated[int | None, Field(ge=100, le=1_000_000)] = None,
    password: Password = None,
) -> Annotated[CallToolResult, TextExtraction]:
    """Text of a PDF page by page, in reading order, or of an image by OCR. Long text continues at
    the start_index the answer names."""
    doc = await document(ctx, data_base64, url, path)
    return await _text(ctx, doc, pages, ocr, password, start_index, max_chars)


@plugin.tool(read_only=True, idempotent=True, open_world=True, task=True)  # many pages take minutes
async def ocr(
    ctx: Ctx,
    data_base64: Base64 = None,
    url: Url = None,
    path: LocalPath = None,
    pages: Pages = None,
    start_index: Annotated[int, Field(ge=0)] = 0,
    max_chars: Annotated[int | None, Field(ge=100, le=1_000_000)] = None,
    password: Password = None,
) -> Annotated[CallToolResult, TextExtraction]:
    """Read text with OCR (Tesseract, English and German) from an image or from PDF pages, even
    where the PDF has a text layer."""
    doc = await document(ctx, data_base64, url, path)
    return await _text(ctx, doc, pages, "always", password, start_index, max_chars)


class Table(BaseModel):
    page: int
    rows: list[list[str]]


class Tables(BaseModel):
    tables: list[Table]


def _markdown(rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return " ".join(value.split()).replace("|", "\\|")

    width = max(len(row) for row in rows)
    lines = ["| " + " | ".join(cell(c) for c in row + [""] * (width - len(row))) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


@plugin.tool(read_only=True, idempotent=True, open_world=True)
async def extract_tables(
    ctx: Ctx,
    data_base64: Base64 = None,
    url: Url = None,
    path: LocalPath = None,
    pages: Pages = None,
    password: Password = None,
) -> Annotated[CallToolResult, Tables]:
    """Tables of the given PDF pages, as markdown and as JSON cells (rows of strings)."""
    doc = await document(ctx, data_base64, url, path)
    if not doc.is_pdf:
        raise ToolError("extract_tables reads PDFs; for an image, use ocr or render_pages.")
    chosen = await chosen_pages(ctx, doc, pages, password)
    found = await ctx.state.cached(
        (doc.digest, "tables", tuple(chosen), password),
        lambda: ctx.documents.tables(doc.data, pages=chosen, password=password),
    )
    tables = [Table(page=page, rows=rows) for page, page_tables in found for rows in page_tables if rows]
    if not tables:
        return text_result(f"No tables found on pages {pages or 'all'}.", Tables(tables=[]))
    text = "\n\n".join(f"Table on page {t.page}:\n\n{_markdown(t.rows)}" for t in tables)
    return text_result(text, Tables(tables=tables))


class Rendered(BaseModel):
    page: int
    width: int
    height: int
    mime_type: str


class RenderedPages(BaseModel):
    images: list[Rendered]


@plugin.tool(read_only=True, idempotent=True, open_world=True)
async def render_pages(
    ctx: Ctx,
    data_base64: Base64 = None,
    url: Url = None,
    path: LocalPath = None,
    pages: Annotated[str | None, Field(description='Pages, such as "1-3,7" or "5-"; null: all.')] = "1",
    dpi: Annotated[int, Field(ge=30, le=300)] = 100,
    max_pixels: Annotated[int | None, Field(ge=10_000, description="Scale each image down to at most this.")] = None,
    format: Literal["png", "jpeg"] = "png",
    password: Password = None,
) -> Annotated[CallToolResult, RenderedPages]:
    """PDF pages (or an image, scaled) as images for a vision model, at a chosen DPI and pixel cap."""
    doc = await document(ctx, data_base64, url, path)
    s = ctx.settings
    cap = min(max_pixels or s.max_output_pixels, s.max_output_pixels)
    if doc.is_pdf:
        chosen = await chosen_pages(ctx, doc, pages, password)
        images = await ctx.documents.render(
            doc.data, pages=chosen, dpi=dpi, max_pixels=cap, fmt=format, password=password
        )
    else:
        data, width, height = await ctx.documents.render_image(doc.data, max_pixels=cap, fmt=format)
        images = [(1, data, width, height)]
    mime = f"image/{format}"
    content: list[TextContent | ImageContent] = []
    for page, data, width, height in images:
        content.append(TextContent(type="text", text=f"Page {page} ({width}x{height}):"))
        content.append(ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=mime))
    meta = RenderedPages(images=[Rendered(page=p, width=w, height=h, mime_type=mime) for p, _, w, h in images])
    return CallToolResult(content=list(content), structured_content=meta.model_dump(mode="json"))


@plugin.tool(read_only=True, open_world=True, when=lambda s: s.vision_url is not None)
async def describe(
    ctx: Ctx,
    data_base64: Base64 = None,
    url: Url = None,
    path: LocalPath = None,
    page: Annotated[int, Field(ge=1, description="The PDF page to look at.")] = 1,
    prompt: Annotated[str, Field(min_length=1, max_length=4000)] = "Describe this image in detail.",
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 512,
    password: Password = None,
) -> str:
    """Ask the configured vision model about an image or a PDF page (an OpenAI-compatible chat
    endpoint such as vLLM serving Qwen2.5-VL)."""
    doc = await document(ctx, data_base64, url, path)
    s = ctx.settings
    if doc.is_pdf:
        pages = await chosen_pages(ctx, doc, str(page), password)
        ((_, image, _, _),) = await ctx.documents.render(
            doc.data, pages=pages, dpi=150, max_pixels=s.max_output_pixels, fmt="png", password=password
        )
    else:
        image, _, _ = await ctx.documents.render_image(doc.data, max_pixels=s.max_output_pixels, fmt="png")
    vision = ctx.state.vision
    assert vision is not None  # the tool exists only when a vision endpoint is configured
    request = {
        "model": s.vision_model,
        "max_tokens": max_tokens,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()},
                    },
                ],
            }
        ],
    }
    try:
        response = await vision.post("chat/completions", json=request)
    except httpx.HTTPError as exc:
        raise ToolError(f"The vision endpoint failed: {type(exc).__name__}. Try again later.") from exc
    if response.is_error:  # as raise_for_status: 4xx and 5xx
        # vLLM and LiteLLM say why in OpenAI's error shape: "... is not a multimodal model" is
        # worth more to the operator than a status code.
        raise ToolError(f"The vision endpoint refused the request: {api_error(response.status_code, response.content)}")
    try:
        answer = response.json()["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ToolError("The vision endpoint answered with something other than a chat completion.") from exc
    return str(answer)
