"""Untrusted documents as a tool reads them (`ctx.documents`); the host's worker pool
(`toolpark.documents.parser`, the `extract` extra) is what answers."""

from __future__ import annotations

from typing import Any, Literal, Protocol

__all__ = ["DocumentReader", "OcrMode", "PageText"]

OcrMode = Literal["auto", "always", "never"]
PageText = tuple[int, str, bool]
"""`(page number, text, whether OCR read it)`."""


class DocumentReader(Protocol):
    """PDF text, OCR, rendering and tables, each job in a worker process with its own limits."""

    async def facts(self, data: bytes, *, password: str | None = None) -> dict[str, Any]:
        """A PDF's page count, metadata, outline, page size and version."""
        ...

    async def page_texts(
        self,
        data: bytes,
        *,
        pages: list[int] | None = None,
        max_pages: int | None = None,
        ocr: OcrMode = "auto",
        password: str | None = None,
    ) -> list[PageText]:
        """A PDF's text page by page; `pages` None reads every page (the first `max_pages`)."""
        ...

    async def image_text(self, data: bytes) -> str:
        """The text OCR reads in an image."""
        ...

    async def image_size(self, data: bytes) -> tuple[int, int]:
        """An image's width and height."""
        ...

    async def render(
        self, data: bytes, *, pages: list[int], dpi: int, max_pixels: int, fmt: str, password: str | None = None
    ) -> list[tuple[int, bytes, int, int]]:
        """`(page, image bytes, width, height)` for each PDF page."""
        ...

    async def render_image(self, data: bytes, *, max_pixels: int, fmt: str) -> tuple[bytes, int, int]:
        """An image scaled down to `max_pixels`, encoded as `fmt`, with its width and height."""
        ...

    async def tables(
        self, data: bytes, *, pages: list[int], password: str | None = None
    ) -> list[tuple[int, list[list[list[str]]]]]:
        """Each page's tables as rows of cell strings."""
        ...
