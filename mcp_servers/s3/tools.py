"""The `s3` server's tools."""

from __future__ import annotations

import base64
import fnmatch
from datetime import datetime
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, Field

from toolpark import ToolContext, ToolError, paginate, text_result
from toolpark.documents.decoding import decode, is_textual
from toolpark.documents.pages import joined
from toolpark.mcp_servers.s3.plugin import S3Settings, plugin
from toolpark.storage.client import S3Client
from toolpark.storage.owners import check_owner, owned
from toolpark.storage.policy import Access

Ctx = ToolContext[S3Settings, S3Client]

Bucket = Annotated[str | None, Field(description="Bucket name; may be left out when the server serves one bucket.")]
Key = Annotated[str, Field(min_length=1, max_length=1024, description="The object's full key.")]
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"}


def access(ctx: Ctx) -> Access:
    s = ctx.settings
    return Access(tuple(s.buckets), s.single_bucket, tuple(s.user_roots), ctx.identity, tuple(s.owner_tags))


async def object_at(ctx: Ctx, bucket: str | None, key: str, *, write: bool = False) -> tuple[str, str]:
    """The bucket and key a call names, once this caller may use them (and, to `write`, once this
    server takes writes): every tool on one object starts here."""
    if write and not ctx.settings.writes_enabled:
        raise ToolError("This server is read-only.")
    rules = access(ctx)
    name = rules.bucket(bucket)
    if write:
        return name, rules.writable(name, key)
    key = rules.key(name, key)
    await check_owner(ctx.state, rules, name, key)
    return name, key


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


class BucketList(BaseModel):
    buckets: list[str]


@plugin.tool(read_only=True, idempotent=True)
async def list_buckets(ctx: Ctx) -> BucketList:
    """The buckets this server lets you use."""
    rules = access(ctx)
    if ctx.settings.single_bucket:
        return BucketList(buckets=[ctx.settings.single_bucket])
    if ctx.settings.buckets:
        return BucketList(buckets=sorted({entry.partition("/")[0] for entry in ctx.settings.buckets}))
    found = await ctx.state.call("list_buckets")
    return BucketList(buckets=[b["Name"] for b in found.get("Buckets", []) if rules.bucket(b["Name"])])


class Entry(BaseModel):
    key: str
    size: int
    modified: str | None
    etag: str | None


class Listing(BaseModel):
    bucket: str
    prefix: str
    objects: list[Entry]
    folders: list[str] = Field(description="Common prefixes below `prefix` (with a delimiter).")
    next_token: str | None = Field(description="Pass as continuation_token for the next page, or null.")


@plugin.tool(read_only=True, idempotent=True)
async def list_objects(
    ctx: Ctx,
    bucket: Bucket = None,
    prefix: Annotated[str, Field(max_length=1024)] = "",
    delimiter: Annotated[str, Field(max_length=1, description='"/" lists one folder level; "" lists all.')] = "/",
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100,
    continuation_token: str | None = None,
) -> Listing:
    """List objects and folders under a prefix, a page at a time."""
    rules = access(ctx)
    name = rules.bucket(bucket)
    rules.listing_prefix(name, prefix)
    arguments: dict[str, Any] = {"Prefix": prefix, "MaxKeys": min(page_size, ctx.settings.max_keys)}
    if delimiter:
        arguments["Delimiter"] = delimiter
    if continuation_token:
        arguments["ContinuationToken"] = continuation_token
    page = await ctx.state.list_objects(name, **arguments)
    listed = [o for o in page.get("Contents", []) if rules.visible(name, o["Key"])]
    folders = [p["Prefix"] for p in page.get("CommonPrefixes", []) if rules.visible(name, p["Prefix"])]
    shown = await owned(ctx.state, rules, name, [o["Key"] for o in listed] + folders)
    objects = [
        Entry(key=o["Key"], size=o["Size"], modified=_iso(o.get("LastModified")), etag=o.get("ETag", "").strip('"'))
        for o in listed
        if o["Key"] in shown
    ]
    folders = [folder for folder in folders if folder in shown]
    token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
    return Listing(bucket=name, prefix=prefix, objects=objects, folders=folders, next_token=token)


class Head(BaseModel):
    bucket: str
    key: str
    size: int
    content_type: str | None
    modified: str | None
    etag: str | None
    metadata: dict[str, str]


async def _head(ctx: Ctx, name: str, key: str) -> Head:
    found = await ctx.state.head(name, key)
    return Head(
        bucket=name, key=key, size=found.size, content_type=found.content_type, modified=_iso(found.modified),
        etag=(found.etag or "").strip('"'), metadata=found.metadata,
    )  # fmt: skip


@plugin.tool(read_only=True, idempotent=True)
async def head_object(ctx: Ctx, key: Key, bucket: Bucket = None) -> Head:
    """Size, type, last change, ETag and user metadata of an object, without reading it."""
    return await _head(ctx, *(await object_at(ctx, bucket, key)))


class Read(BaseModel):
    bucket: str
    key: str
    size: int
    content_type: str | None
    kind: Literal["text", "image", "binary"]
    start: int
    next_start: int | None = Field(description="start for the next part, or null at the end.")


def _looks_textual(sample: bytes) -> bool:
    """Text has no NUL bytes and almost no other control characters."""
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32)
    return b"\0" not in sample and controls <= len(sample) // 100


def _utf8_whole(chunk: bytes) -> bytes:
    """`chunk` without a multi-byte UTF-8 character cut off at its end."""
    for cut in range(1, 4):
        if len(chunk) > cut and chunk[-cut] & 0xC0 == 0xC0:  # a lead byte within the last 3
            need = 2 if chunk[-cut] < 0xE0 else 3 if chunk[-cut] < 0xF0 else 4
            return chunk[:-cut] if need > cut else chunk
        if len(chunk) >= cut and chunk[-cut] < 0x80:
            return chunk
    return chunk


async def _ranged(ctx: Ctx, name: str, key: str, start: int, length: int) -> tuple[bytes, int, str | None]:
    """One GET for `length` bytes from `start`: the bytes, the object's whole size and its type."""
    try:
        data, found = await ctx.state.get(name, key, f"bytes={start}-{start + length - 1}")
    except ToolError as exc:
        if start == 0 and "past the end" in str(exc):  # an empty object has no byte 0
            head = await _head(ctx, name, key)
            return b"", head.size, head.content_type
        raise
    total = str(found.get("ContentRange", "")).rpartition("/")[2]
    size = int(total) if total.isdigit() else start + len(data)
    return data, size, found.get("ContentType")


@plugin.tool(read_only=True, idempotent=True)
async def read_object(
    ctx: Ctx,
    key: Key,
    bucket: Bucket = None,
    start: Annotated[int, Field(ge=0, description="Byte offset to start at.")] = 0,
    max_bytes: Annotated[int | None, Field(ge=1)] = None,
) -> Annotated[CallToolResult, Read]:
    """Read an object: text (any charset) a range at a time, images as image content scaled to a pixel cap,
    other binaries described. Only the requested range is fetched."""
    name, key = await object_at(ctx, bucket, key)
    s = ctx.settings
    length = min(max_bytes or s.max_read_bytes, s.max_read_bytes)
    chunk, size, content_type = await _ranged(ctx, name, key, start, length)
    kind = (content_type or "").split(";")[0].strip().lower()
    base = {"bucket": name, "key": key, "size": size, "content_type": content_type, "start": start}
    if kind in IMAGE_TYPES:
        if size > s.max_document_bytes:
            raise ToolError(f"The image is {size} bytes, over this server's limit of {s.max_document_bytes}.")
        data = chunk if start == 0 and len(chunk) == size else (await _ranged(ctx, name, key, 0, size))[0]
        # Decoding an untrusted image happens in the host's parser workers, as for documents.
        png, width, height = await ctx.documents.render_image(data, max_pixels=s.max_output_pixels, fmt="png")
        meta = Read(**base, kind="image", next_start=None)
        content = [
            TextContent(type="text", text=f"{key} ({width}x{height}):"),
            ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"),
        ]
        return CallToolResult(content=list(content), structured_content=meta.model_dump(mode="json"))
    generic = kind in ("", "application/octet-stream", "binary/octet-stream")
    if not (is_textual(content_type or "") or (generic and _looks_textual(chunk[:8192]))):
        meta = Read(**base, kind="binary", next_start=None)
        return text_result(
            f"{key} is binary ({kind or 'unknown type'}, {size} bytes) and is not shown. read_document "
            "extracts text from PDFs and images; presign gives a download link.",
            meta,
        )
    if start + len(chunk) < size and "charset=" not in (content_type or "").lower():
        chunk = _utf8_whole(chunk)
    end = start + len(chunk)
    following = end if end < size else None
    text = decode(chunk, content_type or "")
    if following is not None:
        text += f"\n\n[The object continues: call read_object with start={following} for more.]"
    return text_result(text, Read(**base, kind="text", next_start=following))


class DocumentText(BaseModel):
    bucket: str
    key: str
    pages: int
    start_index: int
    next_index: int | None
    total_length: int


@plugin.tool(read_only=True, idempotent=True)
async def read_document(
    ctx: Ctx,
    key: Key,
    bucket: Bucket = None,
    start_index: Annotated[int, Field(ge=0)] = 0,
    max_chars: Annotated[int, Field(ge=100, le=1_000_000)] = 20_000,
) -> Annotated[CallToolResult, DocumentText]:
    """Text of a PDF (page by page, OCR for scanned pages) or an image (OCR), through the extract
    server's parser. Long text continues at the start_index the answer names."""
    name, key = await object_at(ctx, bucket, key)
    head = await _head(ctx, name, key)
    s = ctx.settings
    if head.size > s.max_document_bytes:
        raise ToolError(
            f"{key} is {head.size} bytes, over this server's limit of {s.max_document_bytes} for documents."
        )
    data = (await _ranged(ctx, name, key, 0, head.size))[0] if head.size else b""
    if data[:5] == b"%PDF-":
        found = await ctx.documents.page_texts(data, max_pages=200)
    elif (head.content_type or "").split(";")[0].strip().lower() in IMAGE_TYPES:
        found = [(1, await ctx.documents.image_text(data), True)]
    else:
        raise ToolError(f"{key} is {head.content_type or 'of unknown type'}: read_document reads PDFs and images; "
                        "use read_object for text.")  # fmt: skip
    part = paginate(joined(found), start_index=start_index, max_length=max_chars)
    text = part.text
    if part.next_index is not None:
        text += f"\n\n[Text continues: call read_document with start_index={part.next_index} for more.]"
    meta = DocumentText(
        bucket=name, key=key, pages=len(found), start_index=start_index, next_index=part.next_index,
        total_length=part.total_length,
    )  # fmt: skip
    return text_result(text, meta)


class Presigned(BaseModel):
    url: str
    method: str
    expires_in_s: int


@plugin.tool(read_only=True)
async def presign(
    ctx: Ctx,
    key: Key,
    bucket: Bucket = None,
    method: Literal["GET", "PUT"] = "GET",
    expires_in_s: Annotated[int, Field(ge=1)] = 900,
) -> Presigned:
    """A time-limited URL to download (GET) or, when writes are enabled, upload (PUT) one object."""
    if method == "PUT" and not ctx.settings.writes_enabled:
        raise ToolError("This server is read-only: uploads cannot be presigned.")
    name, key = await object_at(ctx, bucket, key)
    lifetime = min(expires_in_s, ctx.settings.presign_max_s)
    operation = "get_object" if method == "GET" else "put_object"
    url = await ctx.state.run(
        lambda: ctx.state.boto.generate_presigned_url(
            operation, Params={"Bucket": name, "Key": key}, ExpiresIn=lifetime
        )
    )
    return Presigned(url=url, method=method, expires_in_s=lifetime)


class Matches(BaseModel):
    keys: list[str]
    scanned: int
    complete: bool = Field(description="False when the scan stopped at its limit before the prefix ended.")


@plugin.tool(read_only=True, idempotent=True)
async def search_keys(
    ctx: Ctx,
    pattern: Annotated[
        str, Field(min_length=1, max_length=512, description='A glob such as "*.pdf" or "2024-*/report*".')
    ],
    bucket: Bucket = None,
    prefix: Annotated[str, Field(max_length=1024)] = "",
    max_results: Annotated[int, Field(ge=1, le=1000)] = 100,
) -> Matches:
    """Find keys under a prefix whose rest matches a glob; the scan is bounded."""
    rules = access(ctx)
    name = rules.bucket(bucket)
    rules.listing_prefix(name, prefix)
    keys: list[str] = []
    scanned, token = 0, None
    while scanned < ctx.settings.max_scanned_keys and len(keys) < max_results:
        arguments: dict[str, Any] = {"Prefix": prefix, "MaxKeys": 1000}
        if token:
            arguments["ContinuationToken"] = token
        page = await ctx.state.list_objects(name, **arguments)
        scanned += len(page.get("Contents", []))
        matching = [
            found["Key"]
            for found in page.get("Contents", [])
            if rules.visible(name, found["Key"]) and fnmatch.fnmatchcase(found["Key"][len(prefix) :], pattern)
        ]
        shown = await owned(ctx.state, rules, name, matching)
        keys += [key for key in matching if key in shown]
        token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        if token is None:
            return Matches(keys=keys[:max_results], scanned=scanned, complete=True)
    return Matches(keys=keys[:max_results], scanned=scanned, complete=False)


@plugin.tool(destructive=False, when=lambda s: s.writes_enabled)
async def put_object(
    ctx: Ctx,
    key: Key,
    bucket: Bucket = None,
    text: str | None = None,
    data_base64: str | None = None,
    content_type: str | None = None,
) -> Head:
    """Write an object from text or base64 bytes (only where writes are allowed)."""
    name, key = await object_at(ctx, bucket, key, write=True)
    if (text is None) == (data_base64 is None):
        raise ToolError("Give exactly one of text or data_base64.")
    body = text.encode() if text is not None else base64.b64decode(data_base64 or "", validate=True)
    kind = content_type or ("text/plain; charset=utf-8" if text is not None else "application/octet-stream")
    await ctx.state.call("put_object", bucket=name, key=key, Body=body, ContentType=kind)
    return await _head(ctx, name, key)


@plugin.tool(destructive=True, when=lambda s: s.writes_enabled)
async def delete_object(ctx: Ctx, key: Key, bucket: Bucket = None) -> str:
    """Delete an object (only where writes are allowed)."""
    name, key = await object_at(ctx, bucket, key, write=True)
    await ctx.state.call("delete_object", bucket=name, key=key)
    return f"deleted {key} from {name}"


@plugin.tool(destructive=False, when=lambda s: s.writes_enabled)
async def copy_object(ctx: Ctx, source_key: Key, key: Key, source_bucket: Bucket = None, bucket: Bucket = None) -> Head:
    """Copy an object to a new key (only where writes are allowed)."""
    source, source_key = await object_at(ctx, source_bucket, source_key, write=True)
    target, key = await object_at(ctx, bucket, key, write=True)
    await ctx.state.call("copy_object", bucket=target, key=key, CopySource={"Bucket": source, "Key": source_key})
    return await _head(ctx, target, key)
