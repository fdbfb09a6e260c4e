"""`toolpark ingest`: files, directories and URLs into a retrieval collection, through a running
server's `ingest` tool, so the server's rules (auth, tenancy, limits) apply as to any client.

Re-running it is resumable: documents already stored unchanged are skipped without re-embedding.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command's --help reads this module's limits without loading the MCP SDK
    from mcp import Client
    from mcp_types import CallToolResult

__all__ = ["Call", "Source", "calls", "ingest_call", "sources"]

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".csv", ".json", ".yaml", ".yml", ".xml"}
DOCUMENT_SUFFIXES = {".pdf", ".html", ".htm"}
BATCH_DOCUMENTS = 64  # text files per `ingest_documents` call (its most)
BATCH_BYTES = 512 * 1024  # and their bytes: JSON escapes stay well within a server's 4 MiB request limit


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


@dataclass(frozen=True)
class Call:
    """One tool call's sources: small text files together (`ingest_documents`), or one source alone."""

    sources: list[Source]
    batched: bool


def calls(items: Iterable[Source], batch_documents: int = BATCH_DOCUMENTS) -> Iterator[Call]:
    """The sources grouped into tool calls: small text files `batch_documents` together (one call and
    one shared embedding for many documents), everything else alone (a PDF or a URL may take minutes)."""
    batch: list[Source] = []
    size = 0
    for source in items:
        length = source.path.stat().st_size if source.path is not None else 0
        if source.path is None or source.path.suffix.lower() not in TEXT_SUFFIXES or length > BATCH_BYTES:
            yield Call([source], batched=False)
            continue
        if batch and (len(batch) == batch_documents or size + length > BATCH_BYTES):
            yield Call(batch, batched=True)
            batch, size = [], 0
        batch.append(source)
        size += length
    if batch:
        yield Call(batch, batched=True)


async def ingest_call(client: Client, collection: str, call: Call) -> list[tuple[Source, bool, str]]:
    """(source, ok, status or error message) for each of the call's sources."""
    if not call.batched:
        (source,) = call.sources
        result = await client.call_tool("ingest", {"collection": collection} | _document(source))
        if result.is_error:
            return [(source, False, _text(result))]
        return [(source, True, str((result.structured_content or {}).get("status", "done")))]
    documents = [_document(source) for source in call.sources]
    result = await client.call_tool("ingest_documents", {"collection": collection, "documents": documents})
    if result.is_error:
        return [(source, False, _text(result)) for source in call.sources]
    outcomes = (result.structured_content or {}).get("documents", [])
    return [
        (source, outcome["status"] != "failed", outcome.get("error") or outcome["status"])
        for source, outcome in zip(call.sources, outcomes, strict=True)
    ]


def _document(source: Source) -> dict[str, Any]:
    """The tools' arguments for one source: its text or bytes read here, or its URL."""
    if source.path is None:
        return {"url": source.location, "source_uri": source.location}
    data = source.path.read_bytes()
    document: dict[str, Any] = {"source_uri": source.location, "title": source.path.name}
    if source.path.suffix.lower() in TEXT_SUFFIXES:
        return document | {"text": data.decode("utf-8", errors="replace")}
    content_type = mimetypes.guess_type(source.path.name)[0] or "application/octet-stream"
    return document | {"data_base64": base64.b64encode(data).decode(), "content_type": content_type}


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)
