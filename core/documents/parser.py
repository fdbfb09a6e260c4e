"""The host's document parser: one pool of worker processes per host, lent to every tool as
`ctx.documents`, with OCR options and safety limits from the `[documents]` settings.

Servers ask for what they need (a PDF's page texts, an image's text, rendered pages, tables)
with keyword options; none of them starts parser processes of its own or repeats an OCR literal.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import anyio
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toolpark.contract.documents import OcrMode, PageText
from toolpark.contract.errors import ToolError
from toolpark.contract.settings import SectionSettings
from toolpark.documents.ocr import OcrOptions
from toolpark.documents.workers import WorkerPool

__all__ = ["DocumentSettings", "Documents", "OcrOptions"]

PRELOAD = ("toolpark.documents.pdf", "pdfplumber")
"""Modules each worker imports before its first job, so a job's time is its own."""


def _pdf() -> ModuleType:
    """The PDF and image stack (the `extract` extra), imported on first use: the core installs and
    runs without it, and a tool that reads documents says what to install."""
    try:
        from toolpark.documents import pdf
    except ImportError as exc:
        raise ToolError(
            f"Reading documents needs the PDF and image libraries ({exc.name} is missing): "
            "pip install 'toolpark[extract]'."
        ) from exc
    return pdf


class DocumentSettings(SectionSettings):
    """How the host parses documents: `[documents]` or `TOOLPARK_DOCUMENTS_*`."""

    model_config = SettingsConfigDict(env_prefix="TOOLPARK_DOCUMENTS_", extra="forbid")

    workers: int = Field(2, ge=1, le=32, description="Worker processes that parse documents, shared by every server.")
    job_timeout_s: float = Field(
        120.0, gt=0, description="Seconds one parsing job may take before its worker is killed."
    )
    worker_memory_mb: int = Field(1536, ge=256, description="Address-space limit of each worker, in MiB.")
    ocr_languages: str = Field("eng+deu", description="Tesseract languages, joined with +.")
    ocr_dpi: int = Field(300, ge=72, le=600, description="Resolution pages are rendered at for OCR.")
    ocr_min_chars: int = Field(20, ge=0, description="Pages with less text in their text layer are OCRed.")
    ocr_threads: int = Field(
        1, ge=0, le=64, description="Tesseract threads per page (0: its default); pages run side by side in workers."
    )
    max_image_pixels: int = Field(100_000_000, ge=1, description="Largest image decoded (decompression bombs).")


class Documents:
    """Parses untrusted documents in worker processes, started on first use and closed with the host."""

    def __init__(self, settings: DocumentSettings) -> None:
        self.settings = settings
        self.ocr = OcrOptions(settings.ocr_languages, settings.ocr_dpi, settings.ocr_min_chars, settings.ocr_threads)
        self.workers: WorkerPool | None = None  # started on first use
        self._lock = anyio.Lock()

    async def pool(self) -> WorkerPool:
        """The worker pool, started in a thread the first time (starting workers blocks)."""
        async with self._lock:
            if self.workers is None:
                s = self.settings
                self.workers = await anyio.to_thread.run_sync(
                    lambda: WorkerPool(
                        s.workers, memory_mb=s.worker_memory_mb, timeout_s=s.job_timeout_s, preload=PRELOAD
                    )
                )
        return self.workers

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    async def _run(self, job: str, *args: Any) -> Any:
        """`pdf.<job>(*args)` in a worker."""
        return await (await self.pool()).run(getattr(_pdf(), job), *args)

    async def facts(self, data: bytes, *, password: str | None = None) -> dict[str, Any]:
        """A PDF's page count, metadata, outline, page size and version."""
        found: dict[str, Any] = await self._run("document_facts", data, password)
        return found

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
        if pages is None:
            count = (await self.facts(data, password=password))["pages"]
            pages = list(range(1, (count if max_pages is None else min(count, max_pages)) + 1))
        layers: list[tuple[int, str]] = await self._run("page_texts", data, password, pages)
        texts = dict(layers)
        wanted = {n for n, text in layers if ocr == "always" or (ocr == "auto" and len(text) < self.ocr.min_chars)}

        async def recognized(number: int) -> None:
            texts[number] = await self._run("page_ocr", data, password, number, self.ocr)

        # One job per page, so scanned pages are read side by side by the pool's workers (each job
        # also has its own time limit, where one job for every page would run out on long scans).
        async with anyio.create_task_group() as group:
            for number in wanted:
                group.start_soon(recognized, number)
        return [(number, texts[number], number in wanted) for number in pages]

    async def image_text(self, data: bytes) -> str:
        """The text OCR reads in an image."""
        text: str = await self._run("image_text", data, self.ocr, self.settings.max_image_pixels)
        return text

    async def image_size(self, data: bytes) -> tuple[int, int]:
        size: tuple[int, int] = await self._run("image_size", data, self.settings.max_image_pixels)
        return size

    async def render(
        self, data: bytes, *, pages: list[int], dpi: int, max_pixels: int, fmt: str, password: str | None = None
    ) -> list[tuple[int, bytes, int, int]]:
        """`(page, image bytes, width, height)` for each PDF page."""
        images: list[tuple[int, bytes, int, int]] = await self._run(
            "render", data, password, pages, dpi, max_pixels, fmt
        )
        return images

    async def render_image(self, data: bytes, *, max_pixels: int, fmt: str) -> tuple[bytes, int, int]:
        """An image scaled down to `max_pixels`, encoded as `fmt`, with its width and height."""
        image: tuple[bytes, int, int] = await self._run(
            "image_render", data, self.settings.max_image_pixels, max_pixels, fmt
        )
        return image

    async def tables(
        self, data: bytes, *, pages: list[int], password: str | None = None
    ) -> list[tuple[int, list[list[list[str]]]]]:
        """Each page's tables as rows of cell strings."""
        found: list[tuple[int, list[list[list[str]]]]] = await self._run("tables", data, password, pages)
        return found
