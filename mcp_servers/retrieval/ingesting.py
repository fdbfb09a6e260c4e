"""`toolpark ingest`: files, directories and URLs into a retrieval collection, through a running
server's `ingest` tool, so the server's rules (auth, tenancy, limits) apply as to any client.

Re-running it is resumable: documents already stored unchanged are skipped without re-embedding.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client

__all__ = ["Source", "ingest_one", "sources"]

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".csv", ".json", ".yaml", ".yml", ".xml"}
DOCUMENT_SUFFIXES = {".pdf", ".html", ".htm"}


@dataclass(frozen=True)
class Source:
    """One thing to ingest: a file or a URL (http, https or s3)."""

    location: str
    path: Path | None = None


def sources(inputs: list[str]) -> Iterator[Source]:
    """Every URL as given, every readable file, and the text, HTML and PDF files below directories."""
    for item in inputs:
        if "://" in item:
            yield Source(item)
            continue
        path = Path(item)
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.suffix.lower() in TEXT_SUFFIXES | DOCUMENT_SUFFIXES or not path.is_dir():
                yield Source(candidate.resolve().as_uri(), candidate)


async def ingest_one(client: Client, collection: str, source: Source) -> tuple[bool, str]:
    """(ok, status or error message) for one source."""
    arguments: dict[str, Any] = {"collection": collection, "source_uri": source.location}
    if source.path is None:
        arguments["url"] = source.location
    else:
        data = source.path.read_bytes()
        arguments["title"] = source.path.name
        if source.path.suffix.lower() in TEXT_SUFFIXES:
            arguments["text"] = data.decode("utf-8", errors="replace")
        else:
            arguments["data_base64"] = base64.b64encode(data).decode()
            arguments["content_type"] = mimetypes.guess_type(source.path.name)[0] or "application/octet-stream"
    result = await client.call_tool("ingest", arguments)
    if result.is_error:
        return False, " ".join(getattr(block, "text", "") for block in result.content)
    return True, str((result.structured_content or {}).get("status", "done"))
