"""OCR of scanned PDF pages (no text layer), as before and as now, same run, same host parser.

Before: one worker reading the pages one after another, Tesseract with its default threads (every
core). Now: Tesseract with one thread per page, the pages side by side across the parser's
workers (the defaults). Pages: the scanned fixtures of `<data>/pdfs` (linn, skew, c02-22), joined
into one 6-page PDF (each twice) so that pages can run in parallel as a long scan's would.
Accuracy: characters of the reference transcription `linn.txt` recovered (1 - edit distance /
length, whitespace collapsed) for linn's pages; for the others, agreement with the output before.
Target: now >= 4x faster per page at equal or better accuracy.

    .venv/bin/python bench/ocr.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import io
import re
import time
from pathlib import Path

import anyio
import pypdfium2 as pdfium

from toolpark.documents.parser import Documents, DocumentSettings

ROOT = Path(__file__).resolve().parent.parent
SCANS = ["linn.pdf", "skew.pdf", "c02-22.pdf"]


def joined(folder: Path) -> bytes:
    """The scanned fixtures' pages, each twice, as one PDF."""
    out = pdfium.PdfDocument.new()
    for _ in range(2):
        for name in SCANS:
            source = pdfium.PdfDocument(folder / name)
            out.import_pages(source)
    buffer = io.BytesIO()
    out.save(buffer)
    return buffer.getvalue()


def distance(a: str, b: str) -> int:
    """Levenshtein distance, row by row."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def accuracy(text: str, truth: str) -> float:
    text, truth = (re.sub(r"\s+", " ", t).strip() for t in (text, truth))
    return max(0.0, 1 - distance(text, truth) / max(1, len(truth)))


async def read(data: bytes, **settings: int) -> tuple[float, list[str]]:
    documents = Documents(DocumentSettings(**settings))
    try:
        async with anyio.create_task_group() as group:  # every worker started and ready before the clock
            for _ in range(documents.settings.workers):
                group.start_soon(documents.facts, data)
        started = time.perf_counter()
        pages = await documents.page_texts(data, ocr="auto")
        seconds = time.perf_counter() - started
    finally:
        documents.close()
    assert all(used for _, _, used in pages)
    return seconds, [text for _, text, _ in pages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    data = joined(args.data / "pdfs")
    truth = (args.data / "pdfs" / "linn.txt").read_text()
    before_s, before = anyio.run(lambda: read(data, workers=1, ocr_threads=0))
    now_s, now = anyio.run(lambda: read(data))
    pages = len(before)
    print(f"\n{pages} scanned pages ({', '.join(SCANS)}, each twice), 300 dpi, eng+deu, on this machine")
    print("| way | s per page | linn: characters of linn.txt | others: agreement with before |")
    print("|---|---|---|---|")
    for way, seconds, texts in (("before: 1 worker, Tesseract's threads", before_s, before),
                                ("now: 1 thread per page, pages across 2 workers", now_s, now)):  # fmt: skip
        linn = [accuracy(texts[n], truth) for n in range(pages) if n % len(SCANS) == 0]
        others = [accuracy(texts[n], before[n]) for n in range(pages) if n % len(SCANS) != 0]
        print(f"| {way} | {seconds / pages:.1f} | {min(linn):.3f} | {min(others):.3f} |")
    print(f"\nnow / before: {before_s / now_s:.1f}x faster (target >= 4x at equal or better accuracy)")


if __name__ == "__main__":
    main()
