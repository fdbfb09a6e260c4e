"""The `extract` server's declaration, settings and resources."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import Field, SecretStr

from toolpark import Plugin
from toolpark.clients import api_client, probe
from toolpark.storage.client import S3Client
from toolpark.storage.urls import S3Inputs, s3_inputs

__all__ = ["ExtractSettings", "State", "plugin"]

T = TypeVar("T")


class ExtractSettings(S3Inputs):
    """`TOOLPARK_EXTRACT_*`, or `[plugins.extract]`. Parser workers and OCR are `[documents]` settings."""

    call_timeout_s: float = Field(300.0, gt=0, description="Seconds a tool call may run before it is cancelled.")
    max_document_bytes: int = Field(50_000_000, ge=1024, description="Largest document accepted, in bytes.")
    max_pages_per_call: int = Field(50, ge=1, description="Pages one call may read, render or OCR.")
    max_chars: int = Field(20_000, ge=100, description="Default characters of text one call returns.")
    max_output_pixels: int = Field(4_000_000, ge=10_000, description="Largest image returned to a client.")
    allowed_dir: Path | None = Field(None, description="Directory whose files the `path` argument may name.")
    cache_entries: int = Field(128, ge=0, description="Extraction results kept, by document hash.")
    vision_url: str | None = Field(None, description="OpenAI-compatible base URL of a vision model; enables describe.")
    vision_model: str | None = Field(None, description="Model name sent to the vision endpoint.")
    vision_api_key: SecretStr | None = Field(None, description="Bearer key for the vision endpoint.")


@dataclass
class State:
    """The vision endpoint's client, the s3:// reader, and extraction results by document hash.

    Parsing itself is the host's (`ctx.documents`): one pool of workers for every server."""

    vision: httpx.AsyncClient | None
    storage: S3Client | None = None
    cache: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)
    limit: int = 128

    async def cached(self, key: tuple[Any, ...], make: Callable[[], Awaitable[T]]) -> T:
        """`make()`'s result, remembered under `key` (document hash and parameters)."""
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]  # type: ignore[no-any-return]
        value = await make()
        if self.limit:
            self.cache[key] = value
            while len(self.cache) > self.limit:
                self.cache.popitem(last=False)
        return value


plugin: Plugin[ExtractSettings, State] = Plugin(
    "extract",
    version="0.1.0",
    description="Turns PDFs and images into text, tables and page images for language and vision models.",
    settings=ExtractSettings,
    instructions=(
        "Send a document as data_base64 or url. extract_text reads text (OCR where a page has no text layer); "
        "render_pages returns page images for vision; extract_tables returns tables; document_info the outline."
    ),
)


@plugin.lifespan
async def open_state(settings: ExtractSettings) -> AsyncIterator[State]:
    async with AsyncExitStack() as stack:
        state = State(None, storage=await stack.enter_async_context(s3_inputs(settings)), limit=settings.cache_entries)
        if settings.vision_url:
            vision = api_client(settings.vision_url, settings.vision_api_key, timeout_s=120.0)
            state.vision = await stack.enter_async_context(vision)
        yield state


@plugin.ready
async def vision_answers(state: State) -> None:
    if state.vision is not None:
        await probe(state.vision, "vision endpoint")
