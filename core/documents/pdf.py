"""PDF work done inside worker processes: text per page, OCR where there is no text layer,
rendering, tables, and document facts. Every function takes the document's bytes, so a worker
holds nothing between jobs."""

from __future__ import annotations

import io
from typing import Any

import pypdfium2 as pdfium

from toolpark.contract.errors import ToolError
from toolpark.documents.images import encode, fit, open_image
from toolpark.documents.ocr import OcrOptions, recognize

__all__ = [
    "document_facts", "image_render", "image_size", "image_text", "page_ocr", "page_texts", "render", "tables",
]  # fmt: skip

POINTS_PER_INCH = 72


def _open(data: bytes, password: str | None) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            if password:
                raise ToolError("The PDF is encrypted and the password given is wrong.") from exc
            raise ToolError("The PDF is encrypted: call again with its password.") from exc
        raise ToolError(f"The data is not a readable PDF ({message}).") from exc


def document_facts(data: bytes, password: str | None) -> dict[str, Any]:
    pdf = _open(data, password)
    try:
        outline = []
        for item in pdf.get_toc(max_depth=8):
            destination = item.get_dest()
            index = destination.get_index() if destination is not None else None
            outline.append(
                {"title": item.get_title(), "level": item.level, "page": None if index is None else index + 1}
            )
            if len(outline) == 500:
                break
        first = pdf[0] if len(pdf) else None
        size = [round(first.get_width()), round(first.get_height())] if first is not None else None
        metadata = {k: v for k, v in pdf.get_metadata_dict(skip_empty=True).items()}
        return {
            "pages": len(pdf),
            "metadata": metadata,
            "outline": outline,
            "encrypted": bool(password),
            "page_size_points": size,
            "pdf_version": pdf.get_version(),
        }
    finally:
        pdf.close()


def _page_image(pdf: pdfium.PdfDocument, number: int, dpi: int, max_pixels: int) -> Any:
    page = pdf[number - 1]
    scale = dpi / POINTS_PER_INCH
    area = page.get_width() * page.get_height() * scale * scale
    if area > max_pixels:  # render no larger than needed, rather than rendering big and shrinking
        scale *= (max_pixels / area) ** 0.5
    return page.render(scale=scale).to_pil()


def page_texts(data: bytes, password: str | None, pages: list[int]) -> list[tuple[int, str]]:
    """`(page, text of its text layer)` for each page."""
    pdf = _open(data, password)
    try:
        return [(n, pdf[n - 1].get_textpage().get_text_bounded().replace("\r\n", "\n").strip()) for n in pages]
    finally:
        pdf.close()


def page_ocr(data: bytes, password: str | None, number: int, options: OcrOptions) -> str:
    """The text OCR reads on one page, rendered at the configured resolution."""
    pdf = _open(data, password)
    try:
        image = _page_image(pdf, number, options.dpi, 50_000_000)
        return recognize(image, options).strip()
    finally:
        pdf.close()


def render(
    data: bytes, password: str | None, pages: list[int], dpi: int, max_pixels: int, fmt: str
) -> list[tuple[int, bytes, int, int]]:
    """`(page, image bytes, width, height)` for each page."""
    pdf = _open(data, password)
    try:
        out = []
        for number in pages:
            image = fit(_page_image(pdf, number, dpi, max_pixels), max_pixels)
            out.append((number, encode(image, fmt), image.width, image.height))
        return out
    finally:
        pdf.close()


def tables(data: bytes, password: str | None, pages: list[int]) -> list[tuple[int, list[list[list[str]]]]]:
    """Each page's tables as rows of cell strings (pdfplumber's lattice/stream detection)."""
    import pdfplumber

    try:
        document = pdfplumber.open(io.BytesIO(data), password=password or "")
    except Exception as exc:
        raise ToolError(f"The PDF could not be opened for table extraction ({type(exc).__name__}).") from exc
    with document:
        out = []
        for number in pages:
            found = document.pages[number - 1].extract_tables()
            out.append((number, [_explode([[cell or "" for cell in row] for row in table]) for table in found]))
        return out


def _explode(rows: list[list[str]]) -> list[list[str]]:
    """Split rows whose filled cells all hold the same number (> 1) of lines into that many rows.

    Tables that rule a line only every few records (statistics reports) come out of line-based
    detection with several records stacked in each cell.
    """
    out: list[list[str]] = []
    for row in rows:
        counts = {cell.count("\n") + 1 for cell in row if cell}
        if len(counts) == 1 and (n := counts.pop()) > 1:
            split = [cell.split("\n") if cell else [""] * n for cell in row]
            out.extend([cells[i] for cells in split] for i in range(n))
        else:
            out.append(row)
    return out


def image_text(data: bytes, options: OcrOptions, max_pixels: int) -> str:
    return recognize(open_image(data, max_pixels), options).strip()


def image_size(data: bytes, max_pixels: int) -> tuple[int, int]:
    image = open_image(data, max_pixels)
    return image.width, image.height


def image_render(data: bytes, max_pixels: int, fit_pixels: int, fmt: str) -> tuple[bytes, int, int]:
    image = fit(open_image(data, max_pixels), fit_pixels)
    return encode(image, fmt), image.width, image.height
