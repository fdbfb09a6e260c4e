"""PDF text extraction: the document parser (pypdfium2) vs markitdown (pdfminer.six).

For each born-digital PDF in `<data>/pdfs`, both extract all text in this process; the table
shows pages/s and how close each text is to a reference: the ground truth for
GeoTopo-komprimiert.pdf (`GeoTopo-komprimiert.gt.txt`), and poppler's `pdftotext` for every
file. Similarity is over words after whitespace normalisation: `bag` is the F1 of the word
multisets, `order` is difflib's ratio over the word sequences. Target: >= 20x markitdown's
pages/s at equal or better similarity. (Scanned PDFs are left out: markitdown does no OCR.)

    .venv/bin/python bench/pdf_extraction.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
from markitdown import MarkItDown

from toolpark.documents.pdf import page_texts

ROOT = Path(__file__).resolve().parent.parent
SCANNED = {"linn.pdf", "c02-22.pdf", "skew.pdf", "imagemagick-images.pdf", "libreoffice-writer-password.pdf"}


def toolpark(path: Path) -> str:
    data = path.read_bytes()
    count = len(pdfium.PdfDocument(data))
    pages = list(range(1, count + 1))
    return "\n\n".join(text for _, text in page_texts(data, None, pages))  # the text layers, no OCR


def markitdown(path: Path, converter: MarkItDown = MarkItDown()) -> str:  # noqa: B008 - one converter for all
    return str(converter.convert(str(path)).text_content)


def pdftotext(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def words(text: str) -> list[str]:
    return text.split()


def bag_f1(candidate: list[str], reference: list[str]) -> float:
    common = sum((Counter(candidate) & Counter(reference)).values())
    if not common:
        return 0.0
    precision, recall = common / len(candidate), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def order(candidate: list[str], reference: list[str]) -> float:
    return difflib.SequenceMatcher(None, candidate, reference, autojunk=False).ratio()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    if shutil.which("pdftotext") is None:
        raise SystemExit("pdftotext is needed as a reference: apt-get install poppler-utils")
    files = sorted(p for p in (args.data / "pdfs").glob("*.pdf") if p.name not in SCANNED)
    extractors: dict[str, Callable[[Path], str]] = {
        "toolpark (pypdfium2)": toolpark,
        "markitdown (pdfminer)": markitdown,
    }
    totals = {name: [0.0, 0] for name in extractors}
    rows = []
    for path in files:
        pages = len(pdfium.PdfDocument(str(path)))
        poppler = words(pdftotext(path))
        truth_file = path.with_suffix(".gt.txt")
        truth = words(truth_file.read_text()) if truth_file.exists() else None
        for name, extract in extractors.items():
            started = time.perf_counter()
            text = extract(path)
            elapsed = time.perf_counter() - started
            totals[name][0] += elapsed
            totals[name][1] += pages
            got = words(text)
            vs_truth = f"{bag_f1(got, truth):.3f} / {order(got, truth):.3f}" if truth else "-"
            rows.append(
                (
                    path.name,
                    pages,
                    name,
                    pages / elapsed,
                    vs_truth,
                    f"{bag_f1(got, poppler):.3f} / {order(got, poppler):.3f}",
                )
            )

    print(f"\n{len(files)} born-digital PDFs from {args.data / 'pdfs'}; similarity as bag F1 / order ratio over words")
    print("| file | pages | extractor | pages/s | vs ground truth | vs pdftotext |")
    print("|---|---|---|---|---|---|")
    for file, pages, name, rate, truth, poppler in rows:
        print(f"| {file} | {pages} | {name} | {rate:.0f} | {truth} | {poppler} |")
    rates = {name: pages / seconds for name, (seconds, pages) in totals.items()}
    ours, theirs = rates["toolpark (pypdfium2)"], rates["markitdown (pdfminer)"]
    speedup = ours / theirs
    print(f"\nall pages: toolpark {ours:.0f} pages/s, markitdown {theirs:.1f} pages/s: {speedup:.0f}x (target >= 20x)")


if __name__ == "__main__":
    main()
