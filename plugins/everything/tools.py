"""Tools of the `everything` plugin, named as the MCP conformance suite expects, and a few more
that show the framework's limits (timeouts, result caps, validation, paging) at work."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

import anyio
from mcp_types import AudioContent, EmbeddedResource, ImageContent, TextContent, TextResourceContents
from pydantic import BaseModel, Field

from toolpark import Page, RateLimit, ToolContext, ToolError, paginate
from toolpark.plugins.everything.elicitation import DefaultsForm, EnumForm, ResponseForm
from toolpark.plugins.everything.plugin import EverythingSettings, plugin
from toolpark.plugins.everything.samples import PNG_BASE64, WAV_BASE64, noise_png

Ctx = ToolContext[EverythingSettings, None]


@plugin.tool(read_only=True)
async def test_simple_text() -> str:
    """Tests simple text content response"""
    return "This is a simple text response for testing."


@plugin.tool(read_only=True)
async def test_image_content() -> list[ImageContent]:
    """Tests image content response"""
    return [ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")]


@plugin.tool(read_only=True, idempotent=True)
async def noise_image(
    width: Annotated[int, Field(ge=1, le=2000)], height: Annotated[int, Field(ge=1, le=2000)]
) -> list[ImageContent]:
    """A PNG of noise as large as asked: an image result larger than one message"""
    data = base64.b64encode(noise_png(width, height)).decode()
    return [ImageContent(type="image", data=data, mime_type="image/png")]


@plugin.tool(read_only=True)
async def test_audio_content() -> list[AudioContent]:
    """Tests audio content response"""
    return [AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")]


def _text_resource(uri: str, mime_type: str, text: str) -> EmbeddedResource:
    return EmbeddedResource(type="resource", resource=TextResourceContents(uri=uri, mime_type=mime_type, text=text))


@plugin.tool(read_only=True)
async def test_embedded_resource() -> list[EmbeddedResource]:
    """Tests embedded resource content response"""
    return [_text_resource("test://embedded-resource", "text/plain", "This is an embedded resource content.")]


@plugin.tool(read_only=True)
async def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Tests response with multiple content types (text, image, resource)"""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
        _text_resource("test://mixed-content-resource", "application/json", '{"test": "data", "value": 123}'),
    ]


@plugin.tool(read_only=True)
async def test_tool_with_logging(ctx: Ctx) -> str:
    """Tests tool that emits log messages during execution"""
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.log("info", message)
        await anyio.sleep(0.05)
    return "Tool with logging executed successfully"


@plugin.tool(read_only=True)
async def test_tool_with_progress(ctx: Ctx) -> str:
    """Tests tool that reports progress notifications"""
    for done in (0, 50, 100):
        await ctx.progress(done, 100, f"Completed step {done} of 100")
        await anyio.sleep(0.05)
    meta = ctx.sdk.request_context.meta or {}
    return str(meta.get("progress_token", 0))


@plugin.tool(read_only=True)
async def test_error_handling() -> str:
    """Tests error response handling"""
    raise ToolError("This tool intentionally returns an error for testing")


@plugin.tool(read_only=True, open_world=True)
async def test_sampling(prompt: str, ctx: Ctx) -> str:
    """Tests server-initiated sampling (LLM completion request)"""
    return f"LLM response: {await ctx.sample(prompt, max_tokens=100)}"


@plugin.tool(read_only=True)
async def test_elicitation(message: str, ctx: Ctx) -> str:
    """Tests server-initiated elicitation (user input request)"""
    answer = await ctx.elicit(message, ResponseForm)
    content = answer.data.model_dump_json() if answer.action == "accept" else "{}"
    return f"User response: action={answer.action}, content={content}"


@plugin.tool(read_only=True)
async def test_elicitation_sep1034_defaults(ctx: Ctx) -> str:
    """Tests elicitation with default values for all primitive types (SEP-1034)"""
    answer = await ctx.elicit("Please provide user information", DefaultsForm)
    content = answer.data.model_dump_json() if answer.action == "accept" else "{}"
    return f"Elicitation result: action={answer.action}, content={content}"


@plugin.tool(read_only=True)
async def test_elicitation_sep1330_enums(ctx: Ctx) -> str:
    """Tests elicitation with enum schema variations per SEP-1330"""
    answer = await ctx.elicit("Please select values using different enum schema types", EnumForm)
    content = answer.data.model_dump_json() if answer.action == "accept" else "{}"
    return f"Elicitation completed: action={answer.action}, content={content}"


@plugin.tool(read_only=True)
async def test_reconnection(ctx: Ctx) -> str:
    """Tests SSE polling by closing stream mid-call (SEP-1699)"""
    await ctx.log("info", "Before disconnect")
    await ctx.sdk.close_sse_stream()
    await anyio.sleep(0.2)  # the client reconnects meanwhile and replays what it missed
    await ctx.log("info", "After reconnect")
    return "Reconnection test completed"


class Address(BaseModel):
    street: str | None = None
    city: str | None = None


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@plugin.tool(read_only=True, input_schema=JSON_SCHEMA_2020_12)
async def json_schema_2020_12_tool(
    name: str | None = None,
    address: Address | None = None,
    contactMethod: Literal["phone", "email"] | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Tool with JSON Schema 2020-12 features"""
    return f"name={name}, city={address.city if address else None}, reach by {contactMethod}: {phone or email}"


class Echo(BaseModel):
    text: str = Field(description="The text, repeated.")
    length: int = Field(description="Characters in `text`.")


@plugin.tool(read_only=True, idempotent=True)
async def echo(text: Annotated[str, Field(min_length=1)], repeat: Annotated[int, Field(ge=1, le=100)] = 1) -> Echo:
    """Repeat `text` `repeat` times; returns structured output with a text rendering."""
    joined = " ".join([text] * repeat)
    return Echo(text=joined, length=len(joined))


@plugin.tool(read_only=True)
async def sleep(ctx: Ctx, seconds: Annotated[float, Field(ge=0, le=3600)]) -> str:
    """Wait `seconds`, reporting progress each second; shows timeouts and cancellation."""
    waited = 0.0
    while waited < seconds:
        step = min(1.0, seconds - waited)
        await anyio.sleep(step)
        waited += step
        await ctx.progress(waited, seconds)
    return f"slept {seconds:g} s"


@plugin.tool(read_only=True)
async def generate(size: Annotated[int, Field(ge=0, le=100_000_000)]) -> str:
    """Return `size` characters of filler; shows the result-size cap."""
    return "x" * size


@plugin.tool(read_only=True)
async def crash() -> str:
    """Fail with an unexpected exception; shows that internals stay on the server."""
    raise RuntimeError("database password is hunter2")


LOREM = " ".join(f"Sentence {n} of the long example text." for n in range(1, 501))


@plugin.tool(read_only=True, idempotent=True)
async def read_long_text(start_index: int = 0, max_length: Annotated[int, Field(ge=1, le=100_000)] = 1000) -> Page:
    """Read a long example text a page at a time, continuing from `next_index`."""
    return paginate(LOREM, start_index=start_index, max_length=max_length)


@plugin.tool(read_only=True)
async def touch_watched_resource(ctx: Ctx) -> str:
    """Announce a change of test://watched-resource to its subscribers."""
    await ctx.resource_updated("test://watched-resource")
    return "subscribers notified"


@plugin.tool(read_only=True)
async def echo_headers(ctx: Ctx, names: Annotated[list[str], Field(max_length=20)]) -> dict[str, str]:
    """Return the named HTTP request headers this call arrived with (none over stdio)."""
    return {name.lower(): ctx.headers[name.lower()] for name in names if name.lower() in ctx.headers}


class Fetched(BaseModel):
    url: str = Field(description="The URL as asked for, after redirects.")
    status: int
    content_type: str | None
    size: int = Field(description="Bytes of the body.")
    text: str = Field(description="The start of the body, decoded.")


@plugin.tool(read_only=True, open_world=True)
async def fetch(ctx: Ctx, url: str, max_bytes: Annotated[int, Field(ge=1)] = 1_000_000) -> Fetched:
    """Fetch a URL through the host's SSRF-safe client; shows what outbound requests may reach."""
    got = await ctx.egress.fetch(url, max_bytes=max_bytes)
    return Fetched(
        url=got.url, status=got.status_code, content_type=got.headers.get("content-type"), size=len(got.content),
        text=got.text[:2000],
    )  # fmt: skip


class Caller(BaseModel):
    subject: str
    method: str
    name: str | None
    roles: list[str]
    via: str | None
    namespace: str = Field(description="The caller's own data namespace.")


@plugin.tool(read_only=True, idempotent=True)
async def whoami(ctx: Ctx) -> Caller:
    """Who the host believes is calling, and the caller's own data namespace."""
    who = ctx.identity
    return Caller(
        subject=who.subject, method=who.method, name=who.name, roles=sorted(who.roles), via=who.via,
        namespace=ctx.tenant.own,
    )  # fmt: skip


@plugin.tool(read_only=True, rate_limit=RateLimit(per_minute=6, burst=2))
async def costly(text: Annotated[str, Field(max_length=1000)]) -> str:
    """Stands for a tool that costs much (a model call, a crawl): each caller may call it 6 times a minute."""
    return text


@plugin.tool(read_only=True, requires="admin")
async def admin_only() -> str:
    """A tool only callers holding the `admin` scope or role see and may call."""
    return "granted"
