"""OCR with Tesseract (Debian's `tesseract-ocr`, English and German)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolpark.contract.errors import ToolError

if TYPE_CHECKING:  # Pillow comes with the extract extra; the core imports this module without it
    from PIL import Image

__all__ = ["OcrOptions", "recognize"]


@dataclass(frozen=True)
class OcrOptions:
    """How pages are OCRed, from the `[documents]` settings: one value for the worker, not three literals."""

    languages: str
    dpi: int
    min_chars: int
    threads: int


def recognize(image: Image.Image, options: OcrOptions, timeout_s: float = 120.0) -> str:
    """The text Tesseract reads in `image`, in `options.languages` (like "eng+deu").

    `options.threads` caps Tesseract's OpenMP threads (0: its default, every core). One thread per page, with
    pages side by side in the host's workers: on this project's 2-core machine Tesseract's own threads
    made a 300-dpi page take 33 s where one thread takes 3.2 s for the same text (its threads
    spin-wait on each other)."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise ToolError("OCR is not available: Tesseract is not installed on this server.")
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "PNG")
    try:
        done = subprocess.run(
            [binary, "stdin", "stdout", "-l", options.languages, "--psm", "3"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=timeout_s,
            check=False,
            env=os.environ | {"OMP_THREAD_LIMIT": str(options.threads)} if options.threads else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"OCR took longer than {timeout_s:g} s and was stopped.") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise ToolError(f"OCR failed: {reason[0]}")
    return done.stdout.decode("utf-8", errors="replace")
